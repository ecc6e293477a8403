package whatsapp

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.mau.fi/whatsmeow/types/events"
)

// State codes of the connection.
const (
	StateNotStarted       = "not_started"
	StateConnecting       = "connecting"
	StateConnected        = "connected"
	StateDisconnected     = "disconnected"
	StateKeepAliveTimeout = "keepalive_timeout"
	StateConnectFailed    = "connect_failed"
	StateLoggedOut        = "logged_out"
	StateStreamReplaced   = "stream_replaced"
	StateTempBanned       = "temp_banned"
	StateClientOutdated   = "client_outdated"
)

// State is the health of the WhatsApp connection, in words a person can act
// on. Permanent states are those whatsmeow does not recover from by itself:
// somebody has to do something (link again, stop another copy, update).
type State struct {
	Code      string
	Sentence  string
	Permanent bool
	At        time.Time
}

// stateOf turns a whatsmeow connection event into a State; ok is false for
// events that are not about the connection.
func stateOf(evt any) (s State, ok bool) {
	switch e := evt.(type) {
	case *events.Connected:
		return State{Code: StateConnected, Sentence: "WhatsApp is connected."}, true
	case *events.Disconnected:
		return State{Code: StateDisconnected, Sentence: "WhatsApp disconnected; Sewa reconnects by itself. Replies wait in the outbox meanwhile."}, true
	case *events.KeepAliveTimeout:
		return State{Code: StateKeepAliveTimeout, Sentence: fmt.Sprintf(
			"WhatsApp stopped answering (%d keep-alive pings missed, last answer %s); the connection should recover by itself, else it reconnects.",
			e.ErrorCount, e.LastSuccess.Format(time.DateTime))}, true
	case *events.KeepAliveRestored:
		return State{Code: StateConnected, Sentence: "WhatsApp answers again."}, true
	case *events.ConnectFailure:
		return State{Code: StateConnectFailed, Sentence: fmt.Sprintf(
			"WhatsApp refused the connection (%s %s); Sewa tries again in a minute.", e.Reason, e.Message)}, true
	case *events.LoggedOut:
		return State{Code: StateLoggedOut, Permanent: true, Sentence: fmt.Sprintf(
			"WhatsApp was logged out (%s): the phone no longer has Sewa as a linked device. Run `sewa whatsapp link` on the server to link it again, then restart Sewa.",
			e.Reason)}, true
	case *events.StreamReplaced:
		return State{Code: StateStreamReplaced, Permanent: true, Sentence: "WhatsApp is in use by another copy of Sewa with the same link, so this one stopped to avoid a fight. Stop the other copy, then restart this one."}, true
	case *events.TemporaryBan:
		s := State{Code: StateTempBanned, Permanent: true}
		if e.Expire > 0 {
			s.Sentence = fmt.Sprintf("WhatsApp has temporarily banned this number (%s); the ban ends in about %s and Sewa reconnects then. Send fewer messages to people who have not saved the number.",
				e.Code, e.Expire.Round(time.Minute))
		} else {
			s.Sentence = fmt.Sprintf("WhatsApp has temporarily banned this number (%s). Restart Sewa once the ban is over; send fewer messages to people who have not saved the number.", e.Code)
		}
		return s, true
	case *events.ClientOutdated:
		return State{Code: StateClientOutdated, Permanent: true, Sentence: "WhatsApp refuses this version of Sewa as outdated. Update Sewa (its go.mau.fi/whatsmeow library) and restart it."}, true
	}
	return State{}, false
}

// State returns the connection's current state.
func (a *Adapter) State() State {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state
}

// setState records s, logs it and, when it is permanent (or the end of a
// permanent one), alerts whoever WithAlert named.
func (a *Adapter) setState(ctx context.Context, s State) {
	s.At = a.now()
	a.mu.Lock()
	prev := a.state
	a.state = s
	a.mu.Unlock()
	level := slog.LevelWarn
	switch {
	case s.Permanent:
		level = slog.LevelError
	case s.Code == StateConnected:
		level = slog.LevelInfo
	}
	a.log.Log(ctx, level, s.Sentence, "state", s.Code)
	if a.alert == nil {
		return
	}
	switch {
	case s.Permanent:
		a.alert(ctx, s.Sentence)
	case prev.Permanent && s.Code == StateConnected:
		a.alert(ctx, "WhatsApp works again: "+s.Sentence)
	}
}

// Package channeltest is the harness every channel adapter passes: a table
// of cases run against a fake of the adapter's own platform (a Bot API
// server, whatsmeow events and a recording client, console pipes). A
// channel's test supplies the Fake and then adds its own cases.
package channeltest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"sewa/bot"
)

// Failure is a way the platform refuses a send, made the platform's own way.
type Failure int

const (
	RateLimit Failure = iota + 1 // 429 with retry_after 30s, or the platform's equivalent
	Blocked                      // the recipient blocked the bot or is gone
	Down                         // 5xx, timeout, disconnected
)

// Fake is a platform under test's control.
type Fake interface {
	Channel() bot.Channel
	Say(user, text string)   // the platform delivers a text from user
	Redeliver()              // the platform delivers the last update again
	FailNext(f Failure) bool // the next send fails so; false if the platform has no such failure
	Sent() []string          // what reached users: "u1: text [1] a [2] b"
}

// Case is one row of the table.
type Case struct {
	Name    string
	Do      func(Fake) bool // false: the platform cannot do this (the case does not apply)
	Send    *bot.Outgoing
	Want    []bot.Message // compared on User, Text, Choice, Phone, Other
	WantOut []string
	WantErr error // errors.Is, or for *bot.ErrRateLimited errors.As and RetryAfter
}

// Common are the cases every channel must pass.
var Common = []Case{
	{Name: "text arrives", Do: func(f Fake) bool { f.Say("u1", "hello"); return true },
		Want: []bot.Message{{User: "u1", Text: "hello"}}},
	{Name: "order of one chat is kept", Do: func(f Fake) bool { f.Say("u1", "one"); f.Say("u1", "two"); f.Say("u1", "three"); return true },
		Want: []bot.Message{{User: "u1", Text: "one"}, {User: "u1", Text: "two"}, {User: "u1", Text: "three"}}},
	{Name: "replay is accepted once", Do: func(f Fake) bool { f.Say("u1", "hi"); f.Redeliver(); return true },
		Want: []bot.Message{{User: "u1", Text: "hi"}}},
	{Name: "send text with choices", Do: func(Fake) bool { return true },
		Send:    &bot.Outgoing{To: "u1", Text: "Approve?", Choices: []bot.Choice{{Data: "v1:yes", Label: "Yes"}, {Data: "v1:no", Label: "No"}}},
		WantOut: []string{"u1: Approve? [1] Yes [2] No"}},
	{Name: "429 keeps retry_after", Do: func(f Fake) bool { return f.FailNext(RateLimit) },
		Send: &bot.Outgoing{To: "u1", Text: "hi"}, WantErr: &bot.ErrRateLimited{RetryAfter: 30 * time.Second}},
	{Name: "blocked", Do: func(f Fake) bool { return f.FailNext(Blocked) },
		Send: &bot.Outgoing{To: "u1", Text: "hi"}, WantErr: bot.ErrBlocked},
	{Name: "down is transient", Do: func(f Fake) bool { return f.FailNext(Down) },
		Send: &bot.Outgoing{To: "u1", Text: "hi"}, WantErr: bot.ErrTransient},
}

// Run runs cases against fresh fakes from newFake.
func Run(t *testing.T, newFake func(t *testing.T) Fake, cases []Case) {
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			f := newFake(t)
			in := &Inbox{}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- f.Channel().Receive(ctx, in) }()
			defer func() {
				cancel()
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					t.Error("Receive did not return after its context ended")
				}
			}()
			if !c.Do(f) {
				t.Logf("%s: the platform has no such thing; not applicable", c.Name)
				return
			}
			got := in.waitFor(len(c.Want), 5*time.Second)
			if len(got) != len(c.Want) {
				t.Fatalf("accepted %d messages, want %d: %+v", len(got), len(c.Want), got)
			}
			for i, w := range c.Want {
				g := got[i]
				if g.User != w.User || g.Text != w.Text || g.Choice != w.Choice || g.Phone != w.Phone || g.Other != w.Other {
					t.Errorf("message %d = %+v, want %+v", i, g, w)
				}
				if g.ExternalID == "" || g.Channel != f.Channel().Name() {
					t.Errorf("message %d lacks an external id or channel: %+v", i, g)
				}
			}
			if c.Send == nil {
				return
			}
			m := *c.Send
			m.ID, m.Channel = 1, f.Channel().Name()
			_, err := f.Channel().Send(ctx, m)
			checkErr(t, err, c.WantErr)
			if c.WantOut != nil && !slices.Equal(f.Sent(), c.WantOut) {
				t.Errorf("sent %q, want %q", f.Sent(), c.WantOut)
			}
		})
	}
}

func checkErr(t *testing.T, err, want error) {
	t.Helper()
	var wantRL *bot.ErrRateLimited
	switch {
	case want == nil:
		if err != nil {
			t.Errorf("send: %v", err)
		}
	case errors.As(want, &wantRL):
		var got *bot.ErrRateLimited
		if !errors.As(err, &got) || got.RetryAfter != wantRL.RetryAfter {
			t.Errorf("send error %v, want %v", err, want)
		}
	default:
		if !errors.Is(err, want) {
			t.Errorf("send error %v, want %v", err, want)
		}
	}
}

// Inbox records accepted messages and, like the runtime, accepts a replayed
// external id again without recording it twice.
type Inbox struct {
	mu      sync.Mutex
	seen    map[string]bool
	got     []bot.Message
	Cursors []bot.Cursor
}

func (in *Inbox) Accept(_ context.Context, msgs []bot.Message, cursor *bot.Cursor) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.seen == nil {
		in.seen = map[string]bool{}
	}
	for _, m := range msgs {
		if in.seen[m.Channel+"/"+m.ExternalID] {
			continue
		}
		in.seen[m.Channel+"/"+m.ExternalID] = true
		in.got = append(in.got, m)
	}
	if cursor != nil {
		in.Cursors = append(in.Cursors, *cursor)
	}
	return nil
}

// Messages returns what was accepted so far.
func (in *Inbox) Messages() []bot.Message {
	in.mu.Lock()
	defer in.mu.Unlock()
	return slices.Clone(in.got)
}

// waitFor polls until n messages arrived or d passed, then waits a moment
// more so that an extra message is caught too.
func (in *Inbox) waitFor(n int, d time.Duration) []bot.Message {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && len(in.Messages()) < n {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	return in.Messages()
}

package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mdp/qrterminal/v3"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// Errors of linking, each with what to do about it.
var (
	ErrUnreachable   = errors.New("cannot reach WhatsApp: check this machine's internet connection and try again")
	ErrAlreadyLinked = errors.New("a phone is already linked: run `sewa whatsapp unlink` first to link another")
	ErrNotLinked     = errors.New("no phone is linked: run `sewa whatsapp link` first")
	ErrLinkTimeout   = errors.New("no phone was linked before the codes ran out: run `sewa whatsapp link` again and scan (or type) the code within a minute")
	ErrBadPhone      = errors.New("the phone number must have its country code and only digits, e.g. 919812345678")
)

// PairClientName is how Sewa shows in the phone's list of linked devices
// for phone-number pairing; WhatsApp accepts only "Browser (OS)" names.
const PairClientName = "Chrome (Linux)"

// afterLinkWait bounds the wait for the first login after a successful
// link, which finishes setting the device up (keys, push name).
const afterLinkWait = 30 * time.Second

// Prepare sets what Sewa needs of a whatsmeow client before it connects:
// receipts only once a message is committed (SynchronousAck) and the
// decrypted-event buffer that lets a message not acknowledged be decrypted
// again when it is redelivered. New calls it; call it also on a client used
// only to link, so that messages arriving while linking are not acknowledged
// unseen.
func Prepare(cli *whatsmeow.Client) {
	cli.SynchronousAck = true
	cli.EnableDecryptedEventBuffer = true
}

// NormalizePhone reads a phone number for phone-number pairing: digits with
// the country code; spaces, dashes, brackets and a leading + are allowed.
func NormalizePhone(s string) (string, error) {
	d := strings.Map(func(r rune) rune {
		switch {
		case r >= '0' && r <= '9':
			return r
		case r == ' ' || r == '-' || r == '(' || r == ')' || r == '.' || r == '+':
			return -1
		}
		return 'x'
	}, strings.TrimSpace(s))
	if strings.Contains(d, "x") || len(d) < 8 || len(d) > 15 || d[0] == '0' {
		return "", fmt.Errorf("%q: %w", s, ErrBadPhone)
	}
	return d, nil
}

// Link links cli's unlinked device to a phone and returns the phone's JID.
// Without phone it draws QR codes on out as whatsmeow rotates them, to scan
// from WhatsApp → Linked devices → Link a device; with phone (see
// NormalizePhone) it prints the 8-character code to type on that phone
// instead. It disconnects before returning.
func Link(ctx context.Context, cli Client, phone string, out io.Writer) (types.JID, error) {
	if phone != "" {
		var err error
		if phone, err = NormalizePhone(phone); err != nil {
			return types.JID{}, err
		}
	}
	paired := make(chan types.JID, 1)
	connected := make(chan struct{}, 1)
	cli.AddEventHandlerWithSuccessStatus(func(evt any) bool {
		switch e := evt.(type) {
		case *events.PairSuccess:
			select {
			case paired <- e.ID:
			default:
			}
		case *events.Connected:
			select {
			case connected <- struct{}{}:
			default:
			}
		case *events.Message:
			return false // not ours to take: the running Sewa gets it again
		}
		return true
	})
	qrs, err := cli.GetQRChannel(ctx)
	switch {
	case errors.Is(err, whatsmeow.ErrQRStoreContainsID):
		return types.JID{}, ErrAlreadyLinked
	case err != nil:
		return types.JID{}, fmt.Errorf("preparing to link: %w", err)
	}
	if err := cli.ConnectContext(ctx); err != nil {
		if ctx.Err() != nil {
			return types.JID{}, fmt.Errorf("%w (stopped: %w)", ErrLinkTimeout, ctx.Err())
		}
		return types.JID{}, fmt.Errorf("%w (%w)", ErrUnreachable, err)
	}
	defer cli.Disconnect()
	codes := 0
	for {
		var item whatsmeow.QRChannelItem
		var open bool
		select {
		case <-ctx.Done():
			return types.JID{}, fmt.Errorf("%w (stopped: %w)", ErrLinkTimeout, ctx.Err())
		case item, open = <-qrs:
		}
		switch {
		case !open || item == whatsmeow.QRChannelTimeout:
			return types.JID{}, ErrLinkTimeout
		case item.Event == whatsmeow.QRChannelEventCode:
			codes++
			if phone == "" {
				fmt.Fprintf(out, "\nOn the phone: WhatsApp → Settings → Linked devices → Link a device, and scan this code (a new one comes every %s):\n\n", item.Timeout.Round(time.Second))
				qrterminal.GenerateHalfBlock(item.Code, qrterminal.L, out)
				continue
			}
			if codes > 1 {
				continue // the pairing code stays valid; the QR codes rotate underneath
			}
			code, err := cli.PairPhone(ctx, phone, true, whatsmeow.PairClientChrome, PairClientName)
			if err != nil {
				return types.JID{}, fmt.Errorf("asking WhatsApp for a pairing code for +%s: %w", phone, err)
			}
			fmt.Fprintf(out, "On the phone with number +%s: WhatsApp → Settings → Linked devices → Link a device → Link with phone number instead, and type this code:\n\n    %s\n\n", phone, code)
		case item == whatsmeow.QRChannelScannedWithoutMultidevice:
			fmt.Fprintln(out, "The phone's WhatsApp is too old for linked devices: update it, then scan again.")
		case item == whatsmeow.QRChannelSuccess:
			var jid types.JID
			select {
			case jid = <-paired:
			case <-ctx.Done():
			case <-time.After(afterLinkWait):
			}
			// The server drops the connection after pairing and whatsmeow logs
			// in again; let it finish setting the device up.
			select {
			case <-connected:
			case <-ctx.Done():
			case <-time.After(afterLinkWait):
			}
			return jid.ToNonAD(), nil
		case item.Event == whatsmeow.QRChannelEventError:
			return types.JID{}, fmt.Errorf("linking failed: %w", item.Error)
		case item == whatsmeow.QRChannelClientOutdated:
			return types.JID{}, errors.New("WhatsApp refuses this version of Sewa as outdated: update Sewa (its go.mau.fi/whatsmeow library) and try again")
		default:
			return types.JID{}, fmt.Errorf("linking ended unexpectedly (%s): run `sewa whatsapp link` again", item.Event)
		}
	}
}

// Unlink logs the linked device out: WhatsApp removes it from the phone's
// linked devices and whatsmeow deletes the session. When WhatsApp cannot be
// reached, forget deletes the session here only, and the error (which
// errors.Is ErrUnreachable) says to remove the device on the phone as well.
func Unlink(ctx context.Context, cli Client, forget func(context.Context) error) error {
	connected := make(chan struct{}, 1)
	cli.AddEventHandlerWithSuccessStatus(func(evt any) bool {
		switch evt.(type) {
		case *events.Connected:
			select {
			case connected <- struct{}{}:
			default:
			}
		case *events.Message:
			return false
		}
		return true
	})
	offline := func(cause error) error {
		if err := forget(ctx); err != nil {
			return fmt.Errorf("forgetting the WhatsApp session: %w", err)
		}
		return fmt.Errorf("%w (%w); the session was deleted here, so also remove Sewa on the phone: WhatsApp → Settings → Linked devices", ErrUnreachable, cause)
	}
	if err := cli.ConnectContext(ctx); err != nil {
		return offline(err)
	}
	defer cli.Disconnect()
	select {
	case <-connected:
	case <-ctx.Done():
		return offline(ctx.Err())
	}
	if err := cli.Logout(ctx); err != nil {
		return offline(err)
	}
	return nil
}

package whatsapp_test

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"sewa/bot"
	"sewa/bot/channeltest"
	"sewa/bot/whatsapp"
)

// The table every channel passes. The table's people ("u1") are phone
// numbers on WhatsApp: the fake gives each one a number and names the
// senders back, so the table reads the same for every platform.
func TestChannelTable(t *testing.T) {
	channeltest.Run(t, newTableFake, channeltest.Common)
}

type tableFake struct {
	t     *testing.T
	fake  *fakeClient
	ad    *whatsapp.Adapter
	once  sync.Once
	seq   int
	last  *events.Message
	names map[string]string // phone → table name
}

func newTableFake(t *testing.T) channeltest.Fake {
	f := &tableFake{t: t, fake: newFake(), names: map[string]string{}}
	f.ad = whatsapp.New(f.fake, nil, whatsapp.WithRate(0, 0), whatsapp.WithJitter(0),
		whatsapp.WithLogger(slog.New(slog.NewTextHandler(testLog{t}, nil))))
	return f
}

// phone is the number of a table name: the first name seen is
// 919800000001, the next 919800000002, …
func (f *tableFake) phone(name string) string {
	for p, n := range f.names {
		if n == name {
			return p
		}
	}
	p := fmt.Sprintf("9198%08d", len(f.names)+1)
	f.names[p] = name
	return p
}

func (f *tableFake) Channel() bot.Channel { return named{f} }

func (f *tableFake) Say(user, said string) {
	f.t.Helper()
	f.once.Do(func() {
		select {
		case <-f.fake.connects:
		case <-time.After(5 * time.Second):
			f.t.Fatal("Receive did not connect")
		}
	})
	f.seq++
	f.last = &events.Message{Info: types.MessageInfo{MessageSource: pn(f.phone(user)), ID: types.MessageID(fmt.Sprintf("3A%018d", f.seq)), Timestamp: start},
		Message: text(said)}
	if !f.fake.emit(f.last) {
		f.t.Errorf("%s: %q not taken", user, said)
	}
}

func (f *tableFake) Redeliver() {
	if !f.fake.emit(f.last) {
		f.t.Error("redelivery not taken")
	}
}

func (f *tableFake) FailNext(fl channeltest.Failure) bool {
	var err error
	switch fl {
	case channeltest.RateLimit:
		return false // WhatsApp's rate-overlimit carries no retry-after to keep
	case channeltest.Blocked:
		err = fmt.Errorf("failed to get LID: no LID found for %s@s.whatsapp.net from server", f.phone("u1"))
	case channeltest.Down:
		err = fmt.Errorf("failed to get device list: %w", whatsmeow.ErrNotConnected)
	}
	f.fake.mu.Lock()
	defer f.fake.mu.Unlock()
	f.fake.sendErr = append(f.fake.sendErr, err)
	return true
}

var numbered = regexp.MustCompile(`^(\d+)\. (.*)$`)

// Sent flattens what was delivered as the table writes it: numbered lines
// become "[1] label" and the "Reply …" line under them goes.
func (f *tableFake) Sent() []string {
	var out []string
	for _, s := range f.fake.sentTexts() {
		phone, body, _ := strings.Cut(s, ": ")
		var words []string
		for _, line := range strings.Split(body, "\n") {
			switch m := numbered.FindStringSubmatch(line); {
			case m != nil:
				words = append(words, "["+m[1]+"] "+m[2])
			case line == "" || strings.HasPrefix(line, "Reply "):
			default:
				words = append(words, line)
			}
		}
		out = append(out, f.names[phone]+": "+strings.Join(words, " "))
	}
	return out
}

// named is the adapter with the table's names for phone numbers.
type named struct{ f *tableFake }

func (n named) Name() string   { return n.f.ad.Name() }
func (n named) Caps() bot.Caps { return n.f.ad.Caps() }
func (n named) Receive(ctx context.Context, in bot.Inbox) error {
	return n.f.ad.Receive(ctx, namedInbox{n.f, in})
}
func (n named) Send(ctx context.Context, m bot.Outgoing) (string, error) {
	m.To = n.f.phone(m.To)
	return n.f.ad.Send(ctx, m)
}

type namedInbox struct {
	f  *tableFake
	in bot.Inbox
}

func (n namedInbox) Accept(ctx context.Context, msgs []bot.Message, c *bot.Cursor) error {
	for i := range msgs {
		msgs[i].User = n.f.names[msgs[i].User]
	}
	return n.in.Accept(ctx, msgs, c)
}

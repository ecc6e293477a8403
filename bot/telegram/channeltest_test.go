package telegram_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"sewa/bot"
	"sewa/bot/channeltest"
	"sewa/bot/telegram"
	"sewa/bot/telegram/fakeapi"
)

// The table every channel passes, against the fake Bot API. The adapter
// runs in webhook mode: Telegram's own way of delivering an update again is
// a second POST of the same update (when our 200 did not reach it), which
// the fake can do on request. The table's people ("u1") are chat ids on
// Telegram: the fake gives each one an id and names the senders back.
func TestChannelTable(t *testing.T) {
	channeltest.Run(t, newTableFake, channeltest.Common)
}

const tableSecret = "table-Secret_1"

type tableFake struct {
	t    *testing.T
	api  *fakeapi.Server
	ad   *telegram.Adapter
	hook *httptest.Server

	mu     sync.Mutex
	names  map[int64]string // chat id → table name
	bodies map[int64][]byte // update_id → the webhook request that delivered it
	last   int64            // update_id of the last Say
}

func newTableFake(t *testing.T) channeltest.Fake {
	f := &tableFake{t: t, api: fakeapi.New(t, testToken), names: map[int64]string{}, bodies: map[int64][]byte{}}
	f.hook = httptest.NewServer(nil)
	t.Cleanup(f.hook.Close)
	logs := &logBuffer{}
	t.Cleanup(func() {
		if strings.Contains(logs.String(), testToken) {
			t.Errorf("the token appears in the logs:\n%s", logs)
		}
	})
	ad, err := telegram.New(context.Background(), testToken,
		telegram.WithAPIURL(f.api.URL()), telegram.WithHTTPClient(f.api.Client()), telegram.WithDataDir(t.TempDir()),
		telegram.WithLogger(slog.New(slog.NewTextHandler(logs, nil))), telegram.WithBackoff(time.Millisecond, 20*time.Millisecond),
		telegram.WithWebhook(f.hook.URL+"/tg", tableSecret))
	if err != nil {
		t.Fatal(err)
	}
	f.ad = ad
	f.hook.Config.Handler = http.HandlerFunc(f.serve)
	return f
}

// serve records each delivered update and hands it to the adapter.
func (f *tableFake) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := httptest.NewRecorder()
	f.ad.Handler().ServeHTTP(rec, r)
	if rec.Code == http.StatusOK {
		var probe struct {
			UpdateID int64 `json:"update_id"`
		}
		if json.Unmarshal(body, &probe) == nil {
			f.mu.Lock()
			f.bodies[probe.UpdateID] = body
			f.mu.Unlock()
		}
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

// chat is the chat id of a table name: u1 is 1001, u2 1002, …
func (f *tableFake) chat(name string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, n := range f.names {
		if n == name {
			return id
		}
	}
	id := int64(1001 + len(f.names))
	f.names[id] = name
	f.api.AddUser(fakeapi.User{ID: id, FirstName: name})
	return id
}

func (f *tableFake) name(chat string) string {
	id, _ := strconv.ParseInt(chat, 10, 64)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.names[id]
}

func (f *tableFake) Channel() bot.Channel { return namedTG{f} }

func (f *tableFake) Say(user, text string) {
	u := f.api.SayText(f.chat(user), text)
	f.mu.Lock()
	f.last = u
	f.mu.Unlock()
}

// Redeliver posts the last update to the webhook again, once it was
// delivered, as Telegram does when our answer did not reach it.
func (f *tableFake) Redeliver() {
	f.t.Helper()
	var body []byte
	waitFor(f.t, "the first delivery", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		body = f.bodies[f.last]
		return body != nil
	})
	req, _ := http.NewRequest("POST", f.hook.URL+"/tg", bytes.NewReader(body))
	req.Header.Set(telegram.SecretHeader, tableSecret)
	resp, err := f.api.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		f.t.Errorf("redelivery answered %d", resp.StatusCode)
	}
}

func (f *tableFake) FailNext(fl channeltest.Failure) bool {
	switch fl {
	case channeltest.RateLimit:
		f.api.FailNext("sendMessage", 1, fakeapi.TooManyRequests(30))
	case channeltest.Blocked:
		f.api.FailNext("sendMessage", 1, fakeapi.Blocked)
	case channeltest.Down:
		f.api.FailNext("sendMessage", 1, fakeapi.ServerError)
	default:
		return false
	}
	return true
}

// Sent flattens what reached users as the table writes it: "u1: Approve? [1] Yes [2] No".
func (f *tableFake) Sent() []string {
	var out []string
	for _, s := range f.api.Sent() {
		var b strings.Builder
		fmt.Fprintf(&b, "%s: %s", f.name(strconv.FormatInt(s.ChatID, 10)), s.Text)
		n := 0
		for _, row := range s.Buttons {
			for _, btn := range row {
				n++
				fmt.Fprintf(&b, " [%d] %s", n, btn.Text)
			}
		}
		out = append(out, b.String())
	}
	return out
}

// namedTG is the adapter with the table's names for chat ids.
type namedTG struct{ f *tableFake }

func (n namedTG) Name() string   { return n.f.ad.Name() }
func (n namedTG) Caps() bot.Caps { return n.f.ad.Caps() }
func (n namedTG) Receive(ctx context.Context, in bot.Inbox) error {
	return n.f.ad.Receive(ctx, namedInbox{n.f, in})
}
func (n namedTG) Send(ctx context.Context, m bot.Outgoing) (string, error) {
	m.To = strconv.FormatInt(n.f.chat(m.To), 10)
	return n.f.ad.Send(ctx, m)
}

type namedInbox struct {
	f  *tableFake
	in bot.Inbox
}

func (n namedInbox) Accept(ctx context.Context, msgs []bot.Message, c *bot.Cursor) error {
	for i := range msgs {
		msgs[i].User = n.f.name(msgs[i].User)
	}
	return n.in.Accept(ctx, msgs, c)
}

package telegram_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"sewa/bot"
	"sewa/bot/telegram"
	"sewa/bot/telegram/fakeapi"
	_ "sewa/internal/golden" // declares -update for go test ./... -update
)

// testToken looks like a real token, so that a leak is easy to spot.
const testToken = "7000001:AAH-SeCrEt_t0ken-do-not-LOG"

// inbox records what the adapter accepted and keeps the cursor, as the
// store does in one transaction. It also serves the cursor (Cursors).
type inbox struct {
	mu      sync.Mutex
	msgs    []bot.Message
	cursor  int64
	calls   int
	fail    int // refuse the next fail Accepts
	batches [][]bot.Message
}

func (in *inbox) Accept(ctx context.Context, msgs []bot.Message, cur *bot.Cursor) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.calls++
	if in.fail > 0 {
		in.fail--
		return errors.New("database is locked")
	}
	if cur != nil {
		if cur.Name != "tg" {
			return fmt.Errorf("cursor name %q", cur.Name)
		}
		if cur.Value <= in.cursor {
			return fmt.Errorf("cursor went from %d to %d", in.cursor, cur.Value)
		}
		in.cursor = cur.Value
	}
	in.msgs = append(in.msgs, msgs...)
	in.batches = append(in.batches, msgs)
	return nil
}

func (in *inbox) Cursor(ctx context.Context, name string) (int64, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.cursor, nil
}

func (in *inbox) got() []bot.Message {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]bot.Message(nil), in.msgs...)
}

func (in *inbox) cur() int64 {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.cursor
}

// logBuffer collects the adapter's log output, to check it never holds the
// token.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type harness struct {
	t    *testing.T
	api  *fakeapi.Server
	in   *inbox
	logs *logBuffer
	dir  string
	a    *telegram.Adapter
	stop func() // stops Receive and waits for it
}

// newHarness starts a fake Bot API and connects an adapter to it; the token
// must never appear in the logs.
func newHarness(t *testing.T, opts ...telegram.Option) *harness {
	t.Helper()
	h := &harness{t: t, api: fakeapi.New(t, testToken), in: &inbox{}, logs: &logBuffer{}, dir: t.TempDir()}
	t.Cleanup(func() {
		if strings.Contains(h.logs.String(), testToken) {
			t.Errorf("the token appears in the logs:\n%s", h.logs)
		}
		if os.Getenv("TG_SHOW_LOGS") != "" {
			t.Logf("logs:\n%s", h.logs)
		}
	})
	h.a = h.connect(opts...)
	return h
}

func (h *harness) connect(opts ...telegram.Option) *telegram.Adapter {
	h.t.Helper()
	base := []telegram.Option{
		telegram.WithAPIURL(h.api.URL()),
		telegram.WithHTTPClient(h.api.Client()),
		telegram.WithDataDir(h.dir),
		telegram.WithLogger(slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		telegram.WithCursors(h.in),
		telegram.WithPollTimeout(time.Second),
		telegram.WithBackoff(time.Millisecond, 20*time.Millisecond),
		telegram.WithAlbumWait(2 * time.Second),
	}
	a, err := telegram.New(context.Background(), testToken, append(base, opts...)...)
	if err != nil {
		h.t.Fatalf("New: %v", err)
	}
	return a
}

// receive runs a.Receive until the test ends or h.stop is called.
func (h *harness) receive(a *telegram.Adapter) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Receive(ctx, h.in) }()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					h.t.Errorf("Receive returned %v", err)
				}
			case <-time.After(5 * time.Second):
				h.t.Error("Receive did not return after cancel")
			}
		})
	}
	h.t.Cleanup(h.stop)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (h *harness) waitMsgs(n int) []bot.Message {
	h.t.Helper()
	waitFor(h.t, fmt.Sprintf("%d messages", n), func() bool { return len(h.in.got()) >= n })
	return h.in.got()
}

func id(n int64) string { return strconv.FormatInt(n, 10) }

func TestNewChecksTokenAndSetsCommands(t *testing.T) {
	h := newHarness(t)
	if h.a.Name() != "tg" || h.a.Username() != "sewa_test_bot" {
		t.Errorf("Name %q Username %q", h.a.Name(), h.a.Username())
	}
	if n := len(h.api.Calls("getMe")); n != 1 {
		t.Errorf("getMe called %d times", n)
	}
	want := []string{"start", "help", "mystatus", "cancel", "lang", "next", "tasks", "status"}
	for _, lang := range []string{"", "hi"} {
		var got []string
		for _, c := range h.api.Commands(lang) {
			got = append(got, c.Command)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("commands for %q = %v, want %v", lang, got, want)
		}
	}
	if !strings.Contains(h.logs.String(), "@sewa_test_bot") {
		t.Errorf("the bot's username is not logged:\n%s", h.logs)
	}
	caps := h.a.Caps()
	if !caps.Buttons || caps.MaxChoices != 8 || caps.MaxText != 4096 || !caps.Photos || caps.Rate != 30 || caps.ChatRate != 1 {
		t.Errorf("Caps = %+v", caps)
	}
}

func TestNewWrongToken(t *testing.T) {
	api := fakeapi.New(t, "1:the-right-one")
	var logs logBuffer
	_, err := telegram.New(context.Background(), testToken,
		telegram.WithAPIURL(api.URL()), telegram.WithHTTPClient(api.Client()),
		telegram.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if !errors.Is(err, telegram.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	if strings.Contains(err.Error(), testToken) || strings.Contains(logs.String(), testToken) {
		t.Errorf("the token leaked: %v\n%s", err, logs.String())
	}
	if want := "telegram: connecting: telegram refused the bot token (401 Unauthorized): check TELEGRAM_TOKEN"; err.Error() != want {
		t.Errorf("error %q, want the one line main prints: %q", err, want)
	}
}

// An unreachable API gives a transient error that names no token, although
// net/http quotes the URL (with the token in its path) in its errors.
func TestNewUnreachableHidesToken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = telegram.New(context.Background(), testToken,
		telegram.WithAPIURL("http://"+addr), telegram.WithHTTPClient(&http.Client{Transport: fakeapi.LoopbackTransport()}))
	if !errors.Is(err, bot.ErrTransient) {
		t.Errorf("err = %v, want ErrTransient", err)
	}
	if err == nil || strings.Contains(err.Error(), testToken) || !strings.Contains(err.Error(), "<token>") {
		t.Errorf("err = %v: want the URL with <token> in place of the token", err)
	}
}

func TestPollingDeliversInOrder(t *testing.T) {
	h := newHarness(t)
	h.api.AddUser(fakeapi.User{ID: 11, FirstName: "Asha", LastName: "Verma"})
	a := h.api.SayText(11, "I need ration")
	b := h.api.SayText(12, "/help")
	c := h.api.SayText(11, "4 families")
	h.receive(h.a)
	got := h.waitMsgs(3)
	want := []struct{ ext, user, name, text string }{
		{id(a), "11", "Asha Verma", "I need ration"},
		{id(b), "12", "User 12", "/help"},
		{id(c), "11", "Asha Verma", "4 families"},
	}
	if len(got) != 3 {
		t.Fatalf("got %d messages: %+v", len(got), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Channel != "tg" || g.ExternalID != w.ext || g.User != w.user || g.Name != w.name || g.Text != w.text || g.At.IsZero() {
			t.Errorf("message %d = %+v, want %+v", i, g, w)
		}
	}
	if h.in.cur() != c+1 {
		t.Errorf("cursor = %d, want %d", h.in.cur(), c+1)
	}
	// The next poll confirms the batch to Telegram.
	waitFor(t, "the offset to be confirmed", func() bool { return h.api.Confirmed() == c+1 })
	d := h.api.SayText(12, "thanks")
	got = h.waitMsgs(4)
	if got[3].ExternalID != id(d) || h.in.cur() != d+1 {
		t.Errorf("fourth message %+v, cursor %d", got[3], h.in.cur())
	}
}

func TestAcceptFailureRedeliversTheSameBatch(t *testing.T) {
	h := newHarness(t)
	h.in.fail = 3
	a := h.api.SayText(11, "one")
	b := h.api.SayText(11, "two")
	h.receive(h.a)
	h.waitMsgs(2)
	// Once the next poll confirms the batch, any wrong extra delivery of it
	// would have happened already.
	waitFor(t, "the next poll", func() bool { return h.api.Confirmed() == b+1 })
	got := h.in.got()
	if len(got) != 2 || got[0].ExternalID != id(a) || got[1].ExternalID != id(b) {
		t.Fatalf("got %+v", got)
	}
	h.in.mu.Lock()
	calls := h.in.calls
	h.in.mu.Unlock()
	if calls < 4 {
		t.Errorf("Accept called %d times, want 3 failures and a success", calls)
	}
	// Nothing was confirmed to Telegram before Accept succeeded.
	for _, c := range h.api.Calls("getUpdates") {
		if off, _ := strconv.ParseInt(c.Params["offset"], 10, 64); off > b+1 {
			t.Errorf("getUpdates with offset %d past the batch", off)
		}
	}
	if !strings.Contains(h.logs.String(), "database is locked") {
		t.Error("the refused batch was not logged")
	}
}

func TestRestartNeitherRepeatsNorSkips(t *testing.T) {
	h := newHarness(t)
	a := h.api.SayText(11, "one")
	b := h.api.SayText(11, "two")
	h.receive(h.a)
	h.waitMsgs(2)
	h.stop()
	// The process is gone; Telegram still holds the batch if the offset was
	// never confirmed, and keeps what comes meanwhile.
	c := h.api.SayText(11, "three")
	h.receive(h.connect())
	h.waitMsgs(3)
	waitFor(t, "the next poll", func() bool { return h.api.Confirmed() == c+1 })
	got := h.in.got()
	var ids []string
	for _, m := range got {
		ids = append(ids, m.ExternalID)
	}
	if want := []string{id(a), id(b), id(c)}; !reflect.DeepEqual(ids, want) {
		t.Errorf("ids = %v, want %v", ids, want)
	}
	if h.in.cur() != c+1 {
		t.Errorf("cursor %d", h.in.cur())
	}
}

func TestGetUpdatesErrorsBackOff(t *testing.T) {
	h := newHarness(t)
	h.api.FailNext("getUpdates", 1, fakeapi.ServerError)
	h.api.FailNext("getUpdates", 1, fakeapi.BadGateway)
	h.api.FailNext("getUpdates", 1, fakeapi.Dropped)
	a := h.api.SayText(11, "still there?")
	h.receive(h.a)
	if got := h.waitMsgs(1); got[0].ExternalID != id(a) {
		t.Errorf("got %+v", got)
	}
	if n := len(h.api.Calls("getUpdates")); n < 4 {
		t.Errorf("getUpdates called %d times", n)
	}
}

func TestCallbackPress(t *testing.T) {
	h := newHarness(t)
	h.api.AddUser(fakeapi.User{ID: 11, FirstName: "Asha"})
	ext, err := h.a.Send(context.Background(), bot.Outgoing{ID: 1, To: "11", Text: "Approve R-12 (4 kits)?",
		Choices: []bot.Choice{{Data: "approve:R-12", Label: "Yes"}, {Data: "reject:R-12", Label: "No"}}})
	if err != nil {
		t.Fatal(err)
	}
	msgID, _ := strconv.Atoi(ext)
	u, err := h.api.PressLabel(11, "Yes")
	if err != nil {
		t.Fatal(err)
	}
	h.receive(h.a)
	got := h.waitMsgs(1)
	if m := got[0]; m.Choice != "approve:R-12" || m.User != "11" || m.ExternalID != id(u) || m.Name != "Asha" || m.Text != "" {
		t.Errorf("press = %+v", m)
	}
	waitFor(t, "the callback answer", func() bool { ok, _ := h.api.CallbackAnswered(u); return ok })
	waitFor(t, "the edit", func() bool { m, _ := h.api.Message(11, msgID); return m.Edits > 0 })
	m, _ := h.api.Message(11, msgID)
	if m.Text != "Approve R-12 (4 kits)?\n✓ Yes" || len(m.Buttons) != 0 {
		t.Errorf("pressed message = %q %v", m.Text, m.Buttons)
	}
}

// A photo with buttons gets its caption edited instead.
func TestCallbackOnPhotoEditsCaption(t *testing.T) {
	h := newHarness(t)
	img := filepath.Join(t.TempDir(), "kit.jpg")
	os.WriteFile(img, []byte("JPEG"), 0o600)
	h.api.AddUser(fakeapi.User{ID: 11, FirstName: "Asha"})
	ext, err := h.a.Send(context.Background(), bot.Outgoing{To: "11", Text: "Is this the list?", Image: img,
		Choices: []bot.Choice{{Data: "y", Label: "Yes"}, {Data: "n", Label: "No"}}})
	if err != nil {
		t.Fatal(err)
	}
	msgID, _ := strconv.Atoi(ext)
	h.api.PressLabel(11, "No")
	h.receive(h.a)
	h.waitMsgs(1)
	waitFor(t, "the edit", func() bool { m, _ := h.api.Message(11, msgID); return m.Edits > 0 })
	if m, _ := h.api.Message(11, msgID); m.Text != "Is this the list?\n✓ No" || len(m.Buttons) != 0 {
		t.Errorf("pressed photo = %+v", m)
	}
}

func TestPhotoDownloaded(t *testing.T) {
	h := newHarness(t)
	u := h.api.Photo(11, "beneficiary list", []byte("\xff\xd8 the big one"))
	h.receive(h.a)
	got := h.waitMsgs(1)
	m := got[0]
	if m.ExternalID != id(u) || m.Text != "beneficiary list" || len(m.Photos) != 1 {
		t.Fatalf("photo message = %+v", m)
	}
	if filepath.Dir(m.Photos[0]) != filepath.Join(h.dir, "photos") || filepath.Ext(m.Photos[0]) != ".jpg" {
		t.Errorf("saved as %s", m.Photos[0])
	}
	data, err := os.ReadFile(m.Photos[0])
	if err != nil || string(data) != "\xff\xd8 the big one" {
		t.Errorf("saved %q, %v (want the largest size)", data, err)
	}
	if st, _ := os.Stat(filepath.Join(h.dir, "photos")); st.Mode().Perm() != 0o700 {
		t.Errorf("photos dir mode %v", st.Mode().Perm())
	}
}

// A photo that cannot be fetched for now holds the batch back: it is fetched
// again, never skipped.
func TestPhotoFailureRetriesTheBatch(t *testing.T) {
	h := newHarness(t)
	h.api.FailNext("getFile", 2, fakeapi.ServerError)
	a := h.api.SayText(11, "here is the list")
	b := h.api.Photo(11, "", []byte("JPEG"))
	h.receive(h.a)
	got := h.waitMsgs(2)
	if got[0].ExternalID != id(a) || got[1].ExternalID != id(b) || len(got[1].Photos) != 1 {
		t.Errorf("got %+v", got)
	}
	h.in.mu.Lock()
	defer h.in.mu.Unlock()
	if len(h.in.batches) != 1 {
		t.Errorf("%d batches, want the text held back with the photo", len(h.in.batches))
	}
}

func TestAlbumIsOneMessage(t *testing.T) {
	h := newHarness(t, telegram.WithAlbumWait(50*time.Millisecond))
	ids := h.api.Album(11, "three houses", []byte("P1"), []byte("P2"), []byte("P3"))
	h.receive(h.a)
	got := h.waitMsgs(1)
	if len(got) != 1 || got[0].ExternalID != id(ids[0]) || got[0].Text != "three houses" || len(got[0].Photos) != 3 {
		t.Fatalf("album = %+v", got)
	}
	for i, p := range got[0].Photos {
		if data, _ := os.ReadFile(p); string(data) != fmt.Sprintf("P%d", i+1) {
			t.Errorf("photo %d = %q", i, data)
		}
	}
	if h.in.cur() != ids[2]+1 {
		t.Errorf("cursor %d", h.in.cur())
	}
}

// When a batch ends in the middle of an album, the adapter waits for the rest
// without confirming anything.
func TestAlbumSplitAcrossBatches(t *testing.T) {
	h := newHarness(t)
	g := h.api.NewMediaGroup()
	first := h.api.AlbumPhoto(11, g, "two photos", []byte("P1"))
	h.receive(h.a)
	waitFor(t, "the first photo to be fetched", func() bool {
		for _, c := range h.api.Calls("getUpdates") {
			if len(c.Returned) > 0 {
				return true
			}
		}
		return false
	})
	second := h.api.AlbumPhoto(11, g, "", []byte("P2"))
	after := h.api.SayText(11, "done")
	got := h.waitMsgs(2)
	if len(got) != 2 || got[0].ExternalID != id(first) || len(got[0].Photos) != 2 || got[1].ExternalID != id(after) {
		t.Fatalf("got %+v", got)
	}
	if h.in.cur() != after+1 || second != first+1 {
		t.Errorf("cursor %d", h.in.cur())
	}
}

func TestIncoming(t *testing.T) {
	at := func(unix int64) time.Time { return time.Unix(unix, 0).UTC() }
	cases := []struct {
		file string
		want *bot.Message // nil: nothing for the inbox, only the cursor
	}{
		{"text.json", &bot.Message{User: "512345678", Name: "Asha Verma", Text: "I need ration for 4 families", At: at(1588671000)}},
		{"command_mention.json", &bot.Message{User: "512345678", Name: "Asha Verma", Text: "/start R-12", At: at(1588671060)}},
		{"contact.json", &bot.Message{User: "512345678", Name: "Asha Verma", Phone: "919812345678", At: at(1588671500)}},
		{"location.json", &bot.Message{User: "512345678", Name: "Asha", Location: &bot.Location{Lat: 28.535517, Lon: 77.270421}, At: at(1588671600)}},
		{"venue.json", &bot.Message{User: "512345678", Name: "Asha", Location: &bot.Location{Lat: 28.549, Lon: 77.2696}, At: at(1588671700)}},
		{"sticker.json", &bot.Message{User: "512345678", Name: "Asha", Other: "sticker", At: at(1588671800)}},
		{"voice.json", &bot.Message{User: "512345678", Name: "Asha", Other: "voice", At: at(1588671900)}},
		{"video_note.json", &bot.Message{User: "512345678", Name: "Asha", Other: "video_note", At: at(1588672000)}},
		{"animation.json", &bot.Message{User: "512345678", Name: "Asha", Other: "animation", At: at(1588672100)}},
		{"document_pdf.json", &bot.Message{User: "512345678", Name: "Asha", Other: "document", Text: "list for ward 7", At: at(1588672200)}},
		{"poll.json", &bot.Message{User: "512345678", Name: "Asha", Other: "poll", At: at(1588672300)}},
		{"audio.json", &bot.Message{User: "512345678", Name: "Asha", Other: "audio", At: at(1588672400)}},
		{"video.json", &bot.Message{User: "512345678", Name: "Asha", Other: "video", Text: "kits reached", At: at(1588672500)}},
		{"story.json", &bot.Message{User: "512345678", Name: "Asha", Other: "unsupported", At: at(1588672600)}},
		{"callback_query.json", &bot.Message{User: "512345678", Name: "Asha Verma", Choice: "approve:R-12", At: time.Date(2025, 5, 4, 10, 0, 0, 0, time.UTC)}},
		{"group_text.json", nil},
		{"edited_message.json", nil},
		{"channel_post.json", nil},
		{"my_chat_member.json", nil},
	}
	for _, c := range cases {
		t.Run(strings.TrimSuffix(c.file, ".json"), func(t *testing.T) {
			h := newHarness(t, telegram.WithClock(func() time.Time { return time.Date(2025, 5, 4, 15, 30, 0, 0, time.FixedZone("IST", 19800)) }))
			raw, err := os.ReadFile(filepath.Join("testdata", c.file))
			if err != nil {
				t.Fatal(err)
			}
			u, err := h.api.PushJSON(raw)
			if err != nil {
				t.Fatal(err)
			}
			h.receive(h.a)
			waitFor(t, "the cursor", func() bool { return h.in.cur() == u+1 })
			got := h.in.got()
			if c.want == nil {
				if len(got) != 0 {
					t.Errorf("got %+v, want nothing", got)
				}
				return
			}
			want := *c.want
			want.Channel, want.ExternalID = "tg", id(u)
			if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
				t.Errorf("got  %s\nwant %s", dump(got), dump([]bot.Message{want}))
			}
		})
	}
}

func dump(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestWebhook(t *testing.T) {
	h := newHarness(t)
	srv := httptest.NewServer(nil)
	defer srv.Close()
	a := h.connect(telegram.WithWebhook(srv.URL+"/tg", "s3cret-Token_1"))
	srv.Config.Handler = a.Handler()

	update := func() string {
		u, _ := json.Marshal(map[string]any{"update_id": 900, "message": map[string]any{
			"message_id": 1, "date": 1588671000, "text": "hi",
			"from": map[string]any{"id": 11, "is_bot": false, "first_name": "Asha"},
			"chat": map[string]any{"id": 11, "type": "private", "first_name": "Asha"},
		}})
		return string(u)
	}
	post := func(secret string) int {
		req := httptest.NewRequest("POST", "/tg", strings.NewReader(update()))
		if secret != "" {
			req.Header.Set(telegram.SecretHeader, secret)
		}
		rec := httptest.NewRecorder()
		a.Handler().ServeHTTP(rec, req)
		return rec.Code
	}
	if code := post("s3cret-Token_1"); code != http.StatusServiceUnavailable {
		t.Errorf("before Receive: %d, want 503", code)
	}
	h.receive(a)
	waitFor(t, "setWebhook", func() bool { info, _ := h.api.Webhook(); return info.URL != "" })
	if info, secret := h.api.Webhook(); info.URL != srv.URL+"/tg" || secret != "s3cret-Token_1" {
		t.Errorf("webhook %+v secret %q", info, secret)
	}

	for _, c := range []struct {
		name, secret string
		fail         int
		code, msgs   int
	}{
		{"wrong secret", "s3cret-Token_2", 0, 401, 0},
		{"missing secret", "", 0, 401, 0},
		{"accept fails", "s3cret-Token_1", 1, 500, 0},
		{"accepted", "s3cret-Token_1", 0, 200, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			h.in.mu.Lock()
			h.in.fail, h.in.calls = c.fail, 0
			before := len(h.in.msgs)
			h.in.mu.Unlock()
			if code := post(c.secret); code != c.code {
				t.Errorf("status %d, want %d", code, c.code)
			}
			h.in.mu.Lock()
			defer h.in.mu.Unlock()
			if got := len(h.in.msgs) - before; got != c.msgs {
				t.Errorf("%d messages accepted, want %d", got, c.msgs)
			}
			if c.code == 401 && h.in.calls != 0 {
				t.Error("Accept called despite a wrong secret")
			}
			if c.msgs == 1 && (h.in.msgs[before].ExternalID != "900" || h.in.msgs[before].Text != "hi") {
				t.Errorf("accepted %+v", h.in.msgs[before])
			}
		})
	}

	// End to end: Telegram (the fake) delivers through the webhook, and
	// retries after a refusal.
	h.in.mu.Lock()
	h.in.fail = 1
	h.in.mu.Unlock()
	u := h.api.SayText(12, "over the hook")
	waitFor(t, "webhook delivery", func() bool { return h.api.Delivered() == 1 })
	got := h.in.got()
	if last := got[len(got)-1]; last.ExternalID != id(u) || last.Text != "over the hook" {
		t.Errorf("delivered %+v", last)
	}
	if info, _ := h.api.Webhook(); !strings.Contains(info.LastErrorMessage, "500") {
		t.Errorf("the refusal did not reach Telegram: %+v", info)
	}
	h.stop()

	// Polling again deletes the webhook.
	h.receive(h.connect())
	waitFor(t, "deleteWebhook", func() bool { info, _ := h.api.Webhook(); return info.URL == "" })
}

func TestSendErrors(t *testing.T) {
	cases := []struct {
		name    string
		method  string
		failure fakeapi.Failure
		out     bot.Outgoing
		check   func(error) bool
	}{
		{"429 keeps retry_after", "sendMessage", fakeapi.TooManyRequests(7), bot.Outgoing{Text: "hi"},
			func(err error) bool {
				var rl *bot.ErrRateLimited
				return errors.As(err, &rl) && rl.RetryAfter == 7*time.Second
			}},
		{"429 on an upload keeps retry_after", "sendPhoto", fakeapi.TooManyRequests(3), bot.Outgoing{Text: "hi", Image: "IMG"},
			func(err error) bool {
				var rl *bot.ErrRateLimited
				return errors.As(err, &rl) && rl.RetryAfter == 3*time.Second
			}},
		{"blocked", "sendMessage", fakeapi.Blocked, bot.Outgoing{Text: "hi"}, is(bot.ErrBlocked)},
		{"blocked on an upload", "sendDocument", fakeapi.Blocked, bot.Outgoing{Document: "IMG"}, is(bot.ErrBlocked)},
		{"deactivated", "sendMessage", fakeapi.Deactivated, bot.Outgoing{Text: "hi"}, is(bot.ErrBlocked)},
		{"chat not found", "sendMessage", fakeapi.ChatNotFound, bot.Outgoing{Text: "hi"}, is(bot.ErrBlocked)},
		{"500", "sendMessage", fakeapi.ServerError, bot.Outgoing{Text: "hi"}, is(bot.ErrTransient)},
		{"500 on an upload", "sendPhoto", fakeapi.ServerError, bot.Outgoing{Image: "IMG"}, is(bot.ErrTransient)},
		{"502 page", "sendMessage", fakeapi.BadGateway, bot.Outgoing{Text: "hi"}, is(bot.ErrTransient)},
		{"connection dropped", "sendMessage", fakeapi.Dropped, bot.Outgoing{Text: "hi"}, is(bot.ErrTransient)},
		{"timeout", "sendMessage", fakeapi.Slow(10 * time.Second), bot.Outgoing{Text: "hi"}, is(bot.ErrTransient)},
		{"401", "sendMessage", fakeapi.Failure{Code: 401, Description: "Unauthorized"}, bot.Outgoing{Text: "hi"},
			func(err error) bool {
				return errors.Is(err, telegram.ErrUnauthorized) && errors.Is(err, bot.ErrTransient)
			}},
		{"other 400", "sendMessage", fakeapi.Failure{Code: 400, Description: "Bad Request: can't parse entities"}, bot.Outgoing{Text: "hi"},
			func(err error) bool {
				var rl *bot.ErrRateLimited
				return !errors.Is(err, bot.ErrBlocked) && !errors.Is(err, bot.ErrTransient) && !errors.As(err, &rl) &&
					strings.Contains(err.Error(), "can't parse entities")
			}},
	}
	img := filepath.Join(t.TempDir(), "receipt.pdf")
	os.WriteFile(img, []byte("%PDF-1.4"), 0o600)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			h.api.AddUser(fakeapi.User{ID: 11, FirstName: "Asha"})
			h.api.FailNext(c.method, 1, c.failure)
			out := c.out
			out.To = "11"
			if out.Image == "IMG" {
				out.Image = img
			}
			if out.Document == "IMG" {
				out.Document = img
			}
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			ext, err := h.a.Send(ctx, out)
			if err == nil || !c.check(err) {
				t.Errorf("Send = %q, %v", ext, err)
			}
			if err != nil && strings.Contains(err.Error(), testToken) {
				t.Errorf("the error holds the token: %v", err)
			}
			if n := len(h.api.Calls(c.method)); n != 1 {
				t.Errorf("%d attempts, want exactly one", n)
			}
		})
	}
}

func is(target error) func(error) bool { return func(err error) bool { return errors.Is(err, target) } }

func TestSendUnknownChatAndBlockedUser(t *testing.T) {
	h := newHarness(t)
	if _, err := h.a.Send(context.Background(), bot.Outgoing{To: "404", Text: "hi"}); !errors.Is(err, bot.ErrBlocked) {
		t.Errorf("unknown chat: %v", err)
	}
	h.api.Block(11)
	if _, err := h.a.Send(context.Background(), bot.Outgoing{To: "11", Text: "hi"}); !errors.Is(err, bot.ErrBlocked) {
		t.Errorf("blocked: %v", err)
	}
	if _, err := h.a.Send(context.Background(), bot.Outgoing{To: "wa:9198", Text: "hi"}); err == nil || errors.Is(err, bot.ErrTransient) {
		t.Errorf("bad recipient: %v", err)
	}
	if _, err := h.a.Send(context.Background(), bot.Outgoing{To: "11", Image: "/no/such/file.jpg"}); err == nil || errors.Is(err, bot.ErrTransient) {
		t.Errorf("missing file: %v", err)
	}
}

func TestSendRendersOnTheWire(t *testing.T) {
	h := newHarness(t)
	h.api.AddUser(fakeapi.User{ID: 11, FirstName: "Asha"})
	dir := t.TempDir()
	photo := filepath.Join(dir, "proof.jpg")
	receipt := filepath.Join(dir, "D-17.pdf")
	os.WriteFile(photo, []byte("JPEG"), 0o600)
	os.WriteFile(receipt, []byte("%PDF"), 0o600)
	outs := []bot.Outgoing{
		{To: "11", Text: "Approve?", Choices: []bot.Choice{{Data: "y", Label: "Yes"}, {Data: "n", Label: "No"}}},
		{To: "11", Text: "Your phone number, please.", AskPhone: true},
		{To: "11", Text: "Delivered", Image: photo},
		{To: "11", Text: "Your receipt", Document: receipt},
	}
	for _, o := range outs {
		ext, err := h.a.Send(context.Background(), o)
		if err != nil || ext == "" {
			t.Fatalf("Send(%+v) = %q, %v", o, ext, err)
		}
	}
	sent := h.api.Sent()
	var got []string
	for _, s := range sent {
		got = append(got, s.String())
	}
	want := []string{
		"11: Approve? [Yes] [No]",
		"11: Your phone number, please. {📱 Share my number}",
		"11: <Photo proof.jpg> Delivered",
		"11: <Document D-17.pdf> Your receipt",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("sent\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if kb := sent[1].Keyboard; !kb[0][0].RequestContact || !sent[1].OneTime {
		t.Errorf("share-number keyboard %+v", sent[1])
	}
	if sent[0].Buttons[0][0].Data != "y" {
		t.Errorf("callback_data %+v", sent[0].Buttons)
	}
}

// A long text goes as several messages; when one fails, the retry of the same
// outbox row sends only what is missing.
func TestSendLongTextResumes(t *testing.T) {
	h := newHarness(t)
	h.api.AddUser(fakeapi.User{ID: 11, FirstName: "Asha"})
	var lines []string
	for i := range 300 {
		lines = append(lines, fmt.Sprintf("R-%03d: 4 kits, Okhla Phase II, call before noon", i))
	}
	out := bot.Outgoing{ID: 77, To: "11", Text: strings.Join(lines, "\n")}
	h.api.FailLater("sendMessage", 1, 1, fakeapi.ServerError)
	if _, err := h.a.Send(context.Background(), out); !errors.Is(err, bot.ErrTransient) {
		t.Fatalf("first attempt: %v", err)
	}
	ext, err := h.a.Send(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	sent := h.api.Sent()
	if len(sent) != 4 || h.api.Duplicates() != 0 {
		t.Fatalf("%d parts sent, %d duplicates", len(sent), h.api.Duplicates())
	}
	var texts []string
	for _, s := range sent {
		if n := len([]rune(s.Text)); n > 4096 {
			t.Errorf("a part of %d runes", n)
		}
		texts = append(texts, s.Text)
	}
	if strings.Join(texts, "\n") != out.Text {
		t.Error("the parts do not add up to the text")
	}
	if ext != strconv.Itoa(sent[3].MessageID) {
		t.Errorf("id %s, want the last part's %d", ext, sent[3].MessageID)
	}
}

// The token stays out of logs and errors even when everything goes wrong.
func TestTokenNeverLeaks(t *testing.T) {
	h := newHarness(t)
	h.api.AddUser(fakeapi.User{ID: 11, FirstName: "Asha"})
	h.api.FailNext("getUpdates", 2, fakeapi.Dropped)
	h.api.FailNext("getFile", 1, fakeapi.Dropped)
	h.api.FailNext("answerCallbackQuery", 1, fakeapi.Dropped)
	h.api.Photo(11, "", []byte("JPEG"))
	h.api.Press(11, 99, "x")
	h.receive(h.a)
	h.waitMsgs(2)
	var errs []string
	for _, f := range []fakeapi.Failure{fakeapi.Dropped, fakeapi.BadGateway, fakeapi.ServerError, fakeapi.Blocked} {
		h.api.FailNext("sendMessage", 1, f)
		_, err := h.a.Send(context.Background(), bot.Outgoing{To: "11", Text: "hi"})
		errs = append(errs, err.Error())
	}
	h.stop()
	all := strings.Join(errs, "\n") + h.logs.String()
	if strings.Contains(all, testToken) || strings.Contains(all, "SeCrEt") {
		t.Errorf("the token leaked:\n%s", all)
	}
	if !strings.Contains(all, "<token>") {
		t.Errorf("expected a redacted URL somewhere:\n%s", all)
	}
}

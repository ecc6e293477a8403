package telegram_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"sewa/bot"
	"sewa/bot/telegram"
	"sewa/bot/telegram/fakeapi"
	"sewa/flows"
	"sewa/store"
)

// End to end: the real runtime (bot.New with the default flows) on a real
// SQLite file, the Telegram adapter, and the fake Bot API. Time is real
// here (the outbox sender paces itself by the real clock), so the tests wait
// for what the fake records, never for a fixed time.

type e2e struct {
	t      *testing.T
	api    *fakeapi.Server
	dir    string
	logs   *logBuffer
	adOpts []telegram.Option
	// wrap is what the runtime sees of the adapter. By default Telegram's
	// limits are raised twentyfold: a person takes longer than a second to
	// answer, a test does not, and the per-chat limit (one message a
	// second) would make a conversation of eight answers take eight seconds.
	wrap func(*telegram.Adapter) bot.Channel

	st     *store.Store
	ad     *telegram.Adapter
	rt     *bot.Runtime
	cancel context.CancelFunc
	done   chan error
}

func newE2E(t *testing.T, api *fakeapi.Server, adOpts ...telegram.Option) *e2e {
	t.Helper()
	if api == nil {
		api = fakeapi.New(t, testToken)
	}
	e := &e2e{t: t, api: api, dir: t.TempDir(), logs: &logBuffer{}, adOpts: adOpts,
		wrap: func(a *telegram.Adapter) bot.Channel { return scaled{a, 20} }}
	t.Cleanup(func() {
		e.stop()
		if strings.Contains(e.logs.String(), testToken) {
			t.Errorf("the token appears in the logs")
		}
		if t.Failed() || os.Getenv("TG_SHOW_LOGS") != "" {
			t.Logf("logs:\n%s", e.logs)
		}
	})
	return e
}

// open opens the store and builds the adapter and the runtime, as sewa does
// at start.
func (e *e2e) open() {
	e.t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(e.dir, "sewa.db"))
	if err != nil {
		e.t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts := append([]telegram.Option{
		telegram.WithAPIURL(e.api.URL()),
		telegram.WithHTTPClient(e.api.Client()),
		telegram.WithCursors(st),
		telegram.WithDataDir(e.dir),
		telegram.WithLogger(log),
		telegram.WithPollTimeout(time.Second),
		telegram.WithBackoff(time.Millisecond, 50*time.Millisecond),
		telegram.WithAlbumWait(300 * time.Millisecond),
	}, e.adOpts...)
	ad, err := telegram.New(ctx, testToken, opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	set, err := flows.Default(bot.ActionNames())
	if err != nil {
		e.t.Fatal(err)
	}
	ch := e.wrap(ad)
	e.st, e.ad = st, ad
	e.rt = bot.New(st, set, bot.WithChannel(ch), bot.WithLogger(log), bot.WithLocation(time.UTC))
}

// start opens (if needed) and runs the bot until stop.
func (e *e2e) start() {
	e.t.Helper()
	if e.rt == nil {
		e.open()
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan error, 1)
	go func() { e.done <- e.rt.Run(ctx) }()
}

// stop stops the bot the way SIGTERM does and closes the store.
func (e *e2e) stop() {
	e.t.Helper()
	if e.cancel != nil {
		e.cancel()
		select {
		case err := <-e.done:
			if err != nil {
				e.t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			e.t.Error("Run did not return after its context ended")
		}
		e.cancel = nil
	}
	if e.st != nil {
		e.st.Close()
		e.st, e.rt = nil, nil
	}
}

func (e *e2e) restart() {
	e.t.Helper()
	e.stop()
	e.start()
}

// eventually waits up to d for cond.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitSent waits until the bot has sent n messages to chat and returns them.
func (e *e2e) waitSent(chat int64, n int) []fakeapi.Sent {
	e.t.Helper()
	var got []fakeapi.Sent
	eventually(e.t, 20*time.Second, fmt.Sprintf("%d messages to %d", n, chat), func() bool {
		got = e.api.SentTo(chat)
		return len(got) >= n
	})
	return got
}

// next runs do (something chat does) and returns the bot's next message to
// chat, which must match want.
func (e *e2e) next(chat int64, want string, do func()) fakeapi.Sent {
	e.t.Helper()
	n := len(e.api.SentTo(chat))
	do()
	got := e.waitSent(chat, n+1)[n]
	if !regexp.MustCompile(want).MatchString(got.Text) {
		e.t.Fatalf("chat %d: bot said %q; want %q", chat, got.Text, want)
	}
	return got
}

// say types text as chat and returns the bot's answer, which must match want.
func (e *e2e) say(chat int64, text, want string) fakeapi.Sent {
	e.t.Helper()
	return e.next(chat, want, func() { e.api.SayText(chat, text) })
}

// press presses the button labelled label on the bot's newest message that
// has one, and returns the bot's answer.
func (e *e2e) press(chat int64, label, want string) fakeapi.Sent {
	e.t.Helper()
	return e.next(chat, want, func() {
		if _, err := e.api.PressLabel(chat, label); err != nil {
			e.t.Fatal(err)
		}
	})
}

func (e *e2e) count(query string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.st.DB().QueryRow(query, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
	return n
}

func (e *e2e) card(id string) (stage string, fields map[string]string) {
	e.t.Helper()
	var raw string
	if err := e.st.DB().QueryRow(`SELECT stage, fields FROM cards WHERE id = ?`, id).Scan(&stage, &raw); err != nil {
		e.t.Fatalf("card %s: %v", id, err)
	}
	if err := json.Unmarshal([]byte(raw), &fields); err != nil {
		e.t.Fatal(err)
	}
	return stage, fields
}

var cardRef = regexp.MustCompile(`R-\d+`)

// The Request intake by typing only — typed answers are accepted wherever
// buttons are offered too — ends with the card id.
func TestE2ERequestByTyping(t *testing.T) {
	e := newE2E(t, nil)
	e.start()
	const chat = 501
	for _, step := range []struct{ say, want string }{
		{"/request", `What is your name\?`},
		{"Asha Devi", `mobile number`},
		{"98123 45678", `Where should the kit reach`},
		{"Okhla Phase 2, near the Shiv temple", `How many families`},
		{"2", `How many people`},
		{"9", `Anything we should know`},
		{"skip", `photo of the handwritten list`},
	} {
		e.say(chat, step.say, step.want)
	}
	done := e.say(chat, "skip", `Your request is R-\d+\.`)
	id := cardRef.FindString(done.Text)
	stage, f := e.card(id)
	if stage != "validate" || f["name"] != "Asha Devi" || f["phone"] != "9812345678" || f["families"] != "2" || f["people"] != "9" ||
		!strings.Contains(f["address"], "Okhla") {
		t.Errorf("card %s in %s with %v", id, stage, f)
	}
	if d := e.api.Duplicates(); d != 0 {
		t.Errorf("%d messages sent twice", d)
	}
}

// The Request intake by buttons wherever the bot offers them: the menu
// button, Telegram's "share my number" and location buttons, and the inline
// Skip buttons. The default flow asks name, families and people as typed
// answers (it offers no buttons for them), so those are typed. Every press
// is answered (answerCallbackQuery) and the pressed message shows the answer
// and loses its buttons. Then a press on an old button changes nothing.
func TestE2ERequestByButtons(t *testing.T) {
	e := newE2E(t, nil)
	e.start()
	const chat = 502
	menu := e.say(chat, "/start", `What would you like to do`) // what Telegram's Start button sends
	if len(menu.Buttons) == 0 {
		t.Fatalf("the menu has no buttons: %+v", menu)
	}
	nameQ := e.press(chat, "Request a ration kit", `What is your name\?`)
	if len(nameQ.Buttons) == 0 {
		t.Fatalf("the name question offers no button with the Telegram name: %+v", nameQ)
	}
	phoneQ := e.press(chat, nameQ.Buttons[0][0].Text, `mobile number`)
	if len(phoneQ.Keyboard) == 0 || !phoneQ.Keyboard[0][0].RequestContact {
		t.Fatalf("no share-my-number button: %+v", phoneQ)
	}
	placeQ := e.next(chat, `Where should the kit reach`, func() { e.api.Contact(chat, "919812345679") })
	if len(placeQ.Keyboard) == 0 || !placeQ.Keyboard[0][0].RequestLocation {
		t.Fatalf("no share-my-location button: %+v", placeQ)
	}
	e.next(chat, `How many families`, func() { e.api.Location(chat, 28.5355, 77.2732) })
	e.press(chat, "1", `How many people`)
	special := e.press(chat, "5", `Anything we should know`)
	e.press(chat, "Skip", `photo of the handwritten list`)
	done := e.press(chat, "Skip", `Your request is R-\d+\.`)

	id := cardRef.FindString(done.Text)
	stage, f := e.card(id)
	if stage != "validate" || f["name"] != nameQ.Buttons[0][0].Text || f["phone"] != "9812345679" || f["address"] != "geo:28.535500,77.273200" ||
		f["families"] != "1" || f["people"] != "5" || f["special"] != "" {
		t.Errorf("card %s in %s with %v", id, stage, f)
	}
	presses := e.api.Calls("answerCallbackQuery")
	if len(presses) != 6 {
		t.Errorf("%d callback queries answered; want 6 (menu, name, families, people, skip, skip)", len(presses))
	}
	eventually(t, 10*time.Second, "the pressed message edited", func() bool {
		m, _ := e.api.Message(chat, special.MessageID)
		return len(m.Buttons) == 0 && strings.Contains(m.Text, "✓ Skip")
	})

	// The same Skip pressed again on the old message.
	var data string
	for _, row := range special.Buttons {
		for _, b := range row {
			if b.Text == "Skip" {
				data = b.Data
			}
		}
	}
	cards := e.count(`SELECT count(*) FROM cards`)
	events := e.count(`SELECT count(*) FROM card_events`)
	e.next(chat, `already answered; nothing changed`, func() { e.api.Press(chat, special.MessageID, data) })
	if e.count(`SELECT count(*) FROM cards`) != cards || e.count(`SELECT count(*) FROM card_events`) != events {
		t.Error("a stale press changed the board")
	}
	if stage2, f2 := e.card(id); stage2 != stage || !mapsEqual(f, f2) {
		t.Errorf("a stale press changed the card: %v → %v", f, f2)
	}
	eventually(t, 10*time.Second, "the stale press answered", func() bool { return len(e.api.Calls("answerCallbackQuery")) == 7 })
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// walkToListPhoto answers the intake up to the optional list photo.
func (e *e2e) walkToListPhoto(chat int64, phone string) {
	e.t.Helper()
	e.say(chat, "/request", `What is your name`)
	e.say(chat, "Meena", `mobile number`)
	e.say(chat, phone, `Where should the kit reach`)
	e.say(chat, "Sangam Vihar gali 4", `How many families`)
	e.say(chat, "12", `How many people`)
	e.say(chat, "60", `Anything we should know`)
	e.say(chat, "two elderly", `photo of the handwritten list`)
}

// An album (several photos sent together) answers the optional list photo
// as one answer: every photo is downloaded and on the card.
func TestE2EAlbumAsListPhoto(t *testing.T) {
	e := newE2E(t, nil)
	e.start()
	const chat = 503
	e.walkToListPhoto(chat, "9812345670")
	p1 := append([]byte("\xff\xd8\xff\xe0 page one "), bytes.Repeat([]byte{1}, 5000)...)
	p2 := append([]byte("\xff\xd8\xff\xe0 page two "), bytes.Repeat([]byte{2}, 7000)...)
	done := e.next(chat, `Your request is R-\d+\.`, func() { e.api.Album(chat, "our list", p1, p2) })
	_, f := e.card(cardRef.FindString(done.Text))
	paths := strings.Split(f["list_photo"], "\n")
	if len(paths) != 2 {
		t.Fatalf("list_photo = %q; want two photos", f["list_photo"])
	}
	for i, want := range [][]byte{p1, p2} {
		got, err := os.ReadFile(paths[i])
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("photo %d at %s: %v (%d bytes)", i+1, paths[i], err, len(got))
		}
		if !strings.HasPrefix(paths[i], e.dir) {
			t.Errorf("photo kept outside the data directory: %s", paths[i])
		}
	}
	if n := len(e.api.SentTo(chat)); n != 8 {
		t.Errorf("%d messages to the chat; want 8 (one answer for the album)", n)
	}
}

// A user who blocked the bot: the first send gets 403, the contact is marked
// blocked, that message is not retried and nothing more is sent to them.
func TestE2EBlockedUser(t *testing.T) {
	// The updates were all sent before the block took effect (the fake
	// dates them a minute back): a message written after a block would
	// mean the person unblocked the bot.
	e := newE2E(t, fakeapi.New(t, testToken, fakeapi.WithClock(func() time.Time { return time.Now().Add(-time.Minute) })))
	e.start()
	const chat = 504
	e.say(chat, "/request", `What is your name`)
	e.api.Block(chat)
	before := len(e.api.Calls("sendMessage"))
	e.api.SayText(chat, "Asha") // sent just before blocking; the answer meets the block
	eventually(t, 10*time.Second, "the contact marked blocked", func() bool {
		return e.count(`SELECT count(*) FROM contacts WHERE address = '504' AND blocked_at IS NOT NULL`) == 1
	})
	e.api.SayText(chat, "9812345678")
	e.api.SayText(chat, "/start")
	eventually(t, 10*time.Second, "all three updates committed", func() bool {
		return e.count(`SELECT count(*) FROM inbound WHERE channel = 'tg'`) == 4
	})
	eventually(t, 10*time.Second, "nothing pending", func() bool {
		return e.count(`SELECT count(*) FROM outbox WHERE status = 'pending'`) == 0
	})
	calls := 0
	for _, c := range e.api.Calls("sendMessage")[before:] {
		if c.Params["chat_id"] == "504" {
			calls++
		}
	}
	if calls != 1 {
		t.Errorf("%d sends to the blocked user; want the one that met the block", calls)
	}
	if n := e.count(`SELECT count(*) FROM outbox WHERE address = '504' AND status = 'failed' AND attempts = 1`); n != 1 {
		t.Errorf("%d failed rows with one attempt; want 1", n)
	}
	if n := len(e.api.SentTo(chat)); n != 1 {
		t.Errorf("%d messages reached the blocked user; want only the first question", n)
	}
}

// A restart between updates: what came while the bot was down is handled
// after it, nothing is handled twice and nothing is skipped — the offset is
// stored with the updates it covers.
func TestE2ERestartBetweenUpdates(t *testing.T) {
	e := newE2E(t, nil)
	e.start()
	for c := int64(611); c <= 613; c++ {
		e.say(c, "/request", `What is your name`)
	}
	e.stop()
	var last int64
	for c := int64(611); c <= 616; c++ {
		text := "Name of " + fmt.Sprint(c)
		if c > 613 {
			text = "/request"
		}
		last = e.api.SayText(c, text)
	}
	e.start()
	for c := int64(611); c <= 613; c++ {
		e.waitSent(c, 2)
	}
	for c := int64(614); c <= 616; c++ {
		e.waitSent(c, 1)
	}
	e.restart() // and once more with nothing new
	e.api.SayText(617, "/start")
	e.waitSent(617, 1)
	e.stop()
	e.open()
	defer e.stop()
	if n := e.count(`SELECT count(*) FROM inbound WHERE channel = 'tg'`); n != 10 {
		t.Errorf("%d updates handled; want 10", n)
	}
	cur, err := e.st.Cursor(context.Background(), telegram.ChannelName)
	if err != nil || cur <= last {
		t.Errorf("stored offset %d (%v); want past %d", cur, err, last)
	}
	for c := int64(611); c <= 616; c++ {
		want := 1
		if c <= 613 {
			want = 2
		}
		if n := len(e.api.SentTo(c)); n != want {
			t.Errorf("chat %d got %d messages; want %d", c, n, want)
		}
	}
	if d := e.api.Duplicates(); d != 0 {
		t.Errorf("%d messages sent twice", d)
	}
	if p := e.api.Pending(); p != 0 {
		t.Errorf("%d updates never confirmed", p)
	}
}

// scaled is the adapter with Telegram's limits multiplied. (Embedding keeps
// the adapter's other methods, Webhook among them.)
type scaled struct {
	*telegram.Adapter
	by float64
}

func (s scaled) Caps() bot.Caps {
	c := s.Adapter.Caps()
	c.Rate, c.ChatRate = c.Rate*s.by, c.ChatRate*s.by
	return c
}

// A burst of 500 outbound messages to 50 chats while about one Bot API call
// in ten is answered 429 (retry_after 1) or 500 or 502: every message is
// delivered exactly once and the fake never sees more than the allowed rate.
//
// The limits are Telegram's scaled by ten (300 messages/s overall, 10/s per
// chat), in the fake and in the sender alike, so that the test takes about
// two seconds instead of twenty; the sender's pacing at the real limits is
// tested to the millisecond in bot's TestOutboxBurstKeepsLimitsAndDeliversOnce
// (on a fake clock), and BenchmarkOutbound measures it against this fake at
// 30/s and 1/s per chat.
func TestE2EOutboundBurstWithFaults(t *testing.T) {
	const scale = 10
	api := fakeapi.New(t, testToken, fakeapi.WithLimits(30*scale, 1*scale))
	e := newE2E(t, api)
	e.wrap = func(a *telegram.Adapter) bot.Channel { return scaled{a, scale} }
	e.open()
	rng := rand.New(rand.NewPCG(10, 500))
	faults := []fakeapi.Failure{fakeapi.TooManyRequests(1), fakeapi.ServerError, fakeapi.BadGateway}
	for range 60 {
		api.FailLater("sendMessage", 5+rng.IntN(9), 1, faults[rng.IntN(len(faults))])
	}
	const chats, each = 50, 10
	err := e.st.Tx(context.Background(), func(tx *store.Tx) error {
		for c := range chats {
			api.AddUser(fakeapi.User{ID: int64(7000 + c), FirstName: "Chat"})
		}
		for i := range chats * each {
			chat := 7000 + i/each // chat by chat: the hardest order for a per-chat limit
			body, _ := json.Marshal(bot.Outgoing{Text: fmt.Sprintf("burst message %d", i)})
			if _, err := tx.Enqueue(telegram.ChannelName, fmt.Sprint(chat), string(body), time.Now()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	e.start()
	eventually(t, 2*time.Minute, "the outbox drained", func() bool {
		pending, _, err := e.st.OutboxCounts(context.Background(), telegram.ChannelName)
		return err == nil && pending == 0
	})
	took := time.Since(t0)
	sent := api.Sent()
	got := map[string]int{}
	for _, s := range sent {
		got[s.Text]++
	}
	for i := range chats * each {
		if n := got[fmt.Sprintf("burst message %d", i)]; n != 1 {
			t.Errorf("burst message %d delivered %d times", i, n)
		}
	}
	if n := e.count(`SELECT count(*) FROM outbox WHERE status <> 'sent'`); n != 0 {
		t.Errorf("%d messages not sent", n)
	}
	var injected int
	for _, c := range api.Calls("sendMessage") {
		if c.Status == 429 || c.Status >= 500 {
			injected++
		}
	}
	if injected < 40 {
		t.Errorf("only %d failures were injected", injected)
	}
	if n := api.RateLimited(); n != 0 {
		t.Errorf("the fake's limiter refused %d sends: the sender went over the limit", n)
	}
	if n := api.Duplicates(); n != 0 {
		t.Errorf("%d duplicates", n)
	}
	// The rate the fake saw, in any one-second window.
	var all []time.Time
	per := map[int64][]time.Time{}
	for _, c := range api.Calls("sendMessage") {
		all = append(all, c.At)
		var chat int64
		fmt.Sscan(c.Params["chat_id"], &chat)
		per[chat] = append(per[chat], c.At)
	}
	if n := mostInWindow(all, time.Second); n > 30*scale {
		t.Errorf("%d calls within one second; the limit is %d", n, 30*scale)
	}
	for chat, ts := range per {
		if n := mostInWindow(ts, time.Second); n > 1*scale {
			t.Errorf("chat %d: %d calls within one second; the limit is %d", chat, n, scale)
		}
	}
	t.Logf("%d messages, %d calls (%d failed on purpose) in %s", chats*each, len(all), injected, took.Round(time.Millisecond))
}

func mostInWindow(ts []time.Time, d time.Duration) int {
	ts = slices.Clone(ts)
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	most, j := 0, 0
	for i := range ts {
		for ts[i].Sub(ts[j]) >= d {
			j++
		}
		most = max(most, i-j+1)
	}
	return most
}

// Webhook mode through the runtime's HTTP handler (Runtime.Handler mounts
// the adapter's webhook path): a request without the right secret is refused
// before anything is read; Telegram's deliveries are answered 200 only once
// committed; a request that cannot be committed is answered 500, so that
// Telegram delivers it again.
func TestE2EWebhook(t *testing.T) {
	srv := httptest.NewServer(nil)
	defer srv.Close()
	const secret = "hook-Secret_42"
	e := newE2E(t, nil, telegram.WithWebhook(srv.URL+"/telegram/hook", secret))
	e.open()
	srv.Config.Handler = e.rt.Handler()
	e.start()
	eventually(t, 10*time.Second, "setWebhook", func() bool { info, _ := e.api.Webhook(); return info.URL != "" })

	post := func(secret string, update string) int {
		req, _ := http.NewRequest("POST", srv.URL+"/telegram/hook", strings.NewReader(update))
		req.Header.Set("Content-Type", "application/json")
		if secret != "" {
			req.Header.Set(telegram.SecretHeader, secret)
		}
		resp, err := e.api.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	update := func(id int64, chat int64, text string) string {
		b, _ := json.Marshal(map[string]any{"update_id": id, "message": map[string]any{
			"message_id": id, "date": time.Now().Unix(), "text": text,
			"from": map[string]any{"id": chat, "is_bot": false, "first_name": "Asha"},
			"chat": map[string]any{"id": chat, "type": "private", "first_name": "Asha"},
		}})
		return string(b)
	}
	e.api.AddUser(fakeapi.User{ID: 631, FirstName: "Asha"})
	for _, c := range []struct {
		name, secret string
		want         int
	}{
		{"no secret", "", http.StatusUnauthorized},
		{"wrong secret", "hook-Secret_43", http.StatusUnauthorized},
	} {
		if got := post(c.secret, update(90001, 631, "/request")); got != c.want {
			t.Errorf("%s: %d; want %d", c.name, got, c.want)
		}
	}
	if n := e.count(`SELECT count(*) FROM inbound`); n != 0 {
		t.Fatalf("%d updates committed from refused requests", n)
	}
	// The right secret: by the time the 200 arrives, the update, its effects
	// and its reply are committed.
	if got := post(secret, update(90002, 631, "/request")); got != http.StatusOK {
		t.Fatalf("right secret: %d", got)
	}
	if e.count(`SELECT count(*) FROM inbound WHERE external_id = '90002'`) != 1 ||
		e.count(`SELECT count(*) FROM outbox WHERE address = '631' AND body LIKE '%What is your name%'`) != 1 {
		t.Fatal("answered 200 before the update and its reply were committed")
	}
	e.waitSent(631, 1)
	// Telegram itself delivers (and retries until answered 200).
	e.say(632, "/request", `What is your name`)
	e.say(632, "Ravi", `mobile number`)
	if post(secret, update(90002, 631, "/request")) != http.StatusOK {
		t.Error("a redelivered update must be answered 200")
	}
	if n := e.count(`SELECT count(*) FROM outbox WHERE address = '631'`); n != 1 {
		t.Errorf("a redelivered update was handled again: %d replies", n)
	}
	// A commit that cannot happen is answered 500.
	e.st.Close()
	if got := post(secret, update(90003, 631, "Asha")); got != http.StatusInternalServerError {
		t.Errorf("with the database gone: %d; want 500", got)
	}
}

// Bad input gets a clear answer or a clean ignore, and the bot goes on: a
// 5,000-letter message, a 10 MB photo, invalid UTF-8, and updates of kinds
// Sewa does not use.
func TestE2EBadInput(t *testing.T) {
	e := newE2E(t, nil)
	e.start()
	const chat = 641
	e.say(chat, "/request", `What is your name`)
	e.say(chat, strings.Repeat("अ", 5000), `too long \(5000 letters\).*\n.*What is your name`)
	e.say(chat, "/start "+strings.Repeat("x", 4500), `What is your name`) // a command with a huge argument
	e.say(chat, "Lakshmi", `mobile number`)
	e.next(chat, `cannot use a sticker`, func() { e.api.Sticker(chat) })
	e.say(chat, "9812345677", `Where should the kit reach`)

	// Invalid UTF-8: the Bot API only speaks JSON, whose decoder makes each
	// bad byte U+FFFD; a client sending raw bytes gets the same.
	raw := []byte(`{"message":{"message_id":900,"date":1700000000,"from":{"id":641,"is_bot":false,"first_name":"L"},"chat":{"id":641,"type":"private","first_name":"L"},"text":"gali ` + "\xff\xfe" + ` 4"}}`)
	e.next(chat, `How many families`, func() {
		if _, err := e.api.PushJSON(raw); err != nil {
			t.Fatal(err)
		}
	})
	e.say(chat, "1", `How many people`)
	e.say(chat, "4", `Anything we should know`)
	e.say(chat, "skip", `photo of the handwritten list`)

	// Kinds of update Sewa does not use: messages it cannot use (a poll, a
	// story) get a short explanation; updates that are no message (a
	// membership change, a channel post, an edit, a kind newer than this
	// code) are ignored without an answer.
	var last int64
	for _, f := range []string{"poll.json", "story.json", "my_chat_member.json", "channel_post.json", "edited_message.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		if last, err = e.api.PushJSON(b); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	unknown, err := e.api.PushJSON([]byte(`{"business_message_from_the_future":{"id":1,"chat":{"id":641,"type":"private"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	const other = 512345678 // the sender in testdata
	got := e.waitSent(other, 2)
	for _, s := range got {
		if !strings.Contains(s.Text, "I cannot use a") || strings.Contains(s.Text, "kind_") {
			t.Errorf("answer to a kind Sewa cannot use: %q", s.Text)
		}
	}
	// A 10 MB photo is downloaded and kept.
	photo := bytes.Repeat([]byte{0xab}, 10<<20)
	done := e.next(chat, `Your request is R-\d+\.`, func() { e.api.Photo(chat, "", photo) })
	_, f := e.card(cardRef.FindString(done.Text))
	if st, err := os.Stat(f["list_photo"]); err != nil || st.Size() != 10<<20 {
		t.Errorf("the 10 MB photo: %v", err)
	}
	if f["address"] != "gali \uFFFD\uFFFD 4" {
		t.Errorf("address %q", f["address"])
	}
	eventually(t, 10*time.Second, "the cursor past the ignored updates", func() bool {
		cur, err := e.st.Cursor(context.Background(), telegram.ChannelName)
		return err == nil && cur > max(last, unknown)
	})
	var stored sql.NullString
	e.st.DB().QueryRow(`SELECT failed FROM inbound WHERE failed IS NOT NULL`).Scan(&stored)
	if stored.Valid {
		t.Errorf("a message failed: %s", stored.String)
	}
	if n := len(e.api.SentTo(other)); n != 2 {
		t.Errorf("%d answers to the testdata sender; want 2 (poll, story)", n)
	}
	if n := len(e.api.Sent()) - len(e.api.SentTo(chat)) - len(e.api.SentTo(other)); n != 0 {
		t.Errorf("%d answers to ignored updates", n)
	}
}

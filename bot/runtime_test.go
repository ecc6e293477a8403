package bot_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"sewa/bot"
	"sewa/bot/console"
)

// The same inbound id delivered twice changes nothing and sends one reply.
func TestReplayIsHandledOnce(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	m := bot.Message{Channel: console.Name, ExternalID: "dup-1", User: "asha", Name: "asha", Text: "/start"}
	for range 3 {
		if err := w.rt.Accept(ctx, []bot.Message{m}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.rt.Flush(ctx, console.Name); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(w.out.String(), "What would you like to do?"); n != 1 {
		t.Fatalf("menu sent %d times:\n%s", n, w.out.String())
	}
	var inbound, outbox int
	w.st.DB().QueryRow(`SELECT count(*) FROM inbound`).Scan(&inbound)
	w.st.DB().QueryRow(`SELECT count(*) FROM outbox`).Scan(&outbox)
	if inbound != 1 || outbox != 1 {
		t.Fatalf("inbound ids %d, outbox rows %d; want 1 and 1", inbound, outbox)
	}
}

// A batch carries its cursor: committed with the messages, and a replayed
// batch moves nothing twice.
func TestCursorCommittedWithBatch(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	batch := []bot.Message{
		{Channel: console.Name, ExternalID: "10", User: "a", Text: "/request"},
		{Channel: console.Name, ExternalID: "11", User: "b", Text: "/request"},
		{Channel: console.Name, ExternalID: "12", User: "a", Text: "Asha"},
	}
	if err := w.rt.Accept(ctx, batch, &bot.Cursor{Name: "tg", Value: 13}); err != nil {
		t.Fatal(err)
	}
	if err := w.rt.Accept(ctx, batch, &bot.Cursor{Name: "tg", Value: 13}); err != nil {
		t.Fatal(err)
	}
	got, err := w.st.Cursor(ctx, "tg")
	if err != nil || got != 13 {
		t.Fatalf("cursor = %d, %v", got, err)
	}
	w.rt.Flush(ctx, console.Name)
	out := w.out.String()
	if strings.Count(out, "→ a: What is your name?") != 1 || strings.Count(out, "→ a: Your mobile number?") != 1 ||
		strings.Count(out, "→ b: What is your name?") != 1 {
		t.Fatalf("each chat's replies once and in order, got:\n%s", out)
	}
}

// A message whose handling fails is kept, its sender told, and the rest of
// the batch is handled as if it never existed.
func TestFailedMessageIsKeptAndDoesNotBlockOthers(t *testing.T) {
	w := newWorld(t, bot.WithChannel(panicky{}))
	ctx := context.Background()
	batch := []bot.Message{
		{Channel: "boom", ExternalID: "1", User: "x", Text: "hello"},
		{Channel: console.Name, ExternalID: "2", User: "asha", Text: "/request"},
	}
	if err := w.rt.Accept(ctx, batch, nil); err != nil {
		t.Fatalf("a failing message failed the batch: %v", err)
	}
	var failed, body string
	if err := w.st.DB().QueryRow(`SELECT failed, body FROM inbound WHERE channel = 'boom'`).Scan(&failed, &body); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(failed, "panic") || !strings.Contains(body, "hello") {
		t.Fatalf("kept failure %q body %q", failed, body)
	}
	var sorry int
	w.st.DB().QueryRow(`SELECT count(*) FROM outbox WHERE channel = 'boom' AND body LIKE '%something went wrong%'`).Scan(&sorry)
	if sorry != 1 {
		t.Fatalf("sender told %d times", sorry)
	}
	var contacts int
	w.st.DB().QueryRow(`SELECT count(*) FROM contacts WHERE channel = 'boom'`).Scan(&contacts)
	if contacts != 0 {
		t.Fatal("the failed message's writes were not rolled back")
	}
	w.rt.Flush(ctx, console.Name)
	if !strings.Contains(w.out.String(), "→ asha: What is your name?") {
		t.Fatalf("the other message was not handled:\n%s", w.out.String())
	}
}

// panicky is a channel whose code blows up, standing in for any bug.
type panicky struct{}

func (panicky) Name() string                                       { return "boom" }
func (panicky) Caps() bot.Caps                                     { panic("caps exploded") }
func (panicky) Receive(ctx context.Context, _ bot.Inbox) error     { <-ctx.Done(); return nil }
func (panicky) Send(context.Context, bot.Outgoing) (string, error) { return "", nil }

func TestHealthAndReady(t *testing.T) {
	w := newWorld(t)
	h := w.rt.Handler()
	for _, path := range []string{"/healthz", "/readyz"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != 200 {
			t.Errorf("%s = %d %s", path, rec.Code, rec.Body)
		}
	}
	w.st.Close()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), "database") {
		t.Errorf("readyz with a closed database = %d %s", rec.Code, rec.Body)
	}
}

func TestAlertCoordinatorsSkipsTheFailingChannel(t *testing.T) {
	w := newWorld(t)
	w.say("organiser", "/help") // the first console person: a coordinator
	w.say("asha", "/help")      // not a coordinator
	ctx := context.Background()
	if err := w.rt.AlertCoordinators(ctx, "WhatsApp was logged out", "wa"); err != nil {
		t.Fatal(err)
	}
	w.rt.Flush(ctx, console.Name)
	out := w.out.String()
	if !strings.Contains(out, "→ organiser: ⚠ WhatsApp was logged out") || strings.Contains(out, "→ asha") {
		t.Fatalf("alert went to:\n%s", out)
	}
	w.out.Reset()
	w.rt.AlertCoordinators(ctx, "console is broken", "console")
	w.rt.Flush(ctx, console.Name)
	if w.out.Len() != 0 {
		t.Fatalf("alert sent on the excepted channel: %s", w.out.String())
	}
}

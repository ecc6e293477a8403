package bot_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"sewa/bot"
	"sewa/store"
)

// Accept's group commit: calls that arrive while a commit runs are
// committed together in the next transaction.

// gated is a channel whose first Caps call waits for open: the message
// being handled then holds its commit, and every Accept arriving meanwhile
// queues up behind it.
type gated struct {
	open chan struct{}
	once sync.Once
}

func (g *gated) Name() string { return "gate" }
func (g *gated) Caps() bot.Caps {
	g.once.Do(func() { <-g.open })
	return bot.Caps{}
}
func (g *gated) Receive(ctx context.Context, _ bot.Inbox) error     { <-ctx.Done(); return nil }
func (g *gated) Send(context.Context, bot.Outgoing) (string, error) { return "1", nil }

// explodes is a channel whose code panics, standing in for any bug.
type explodes struct{}

func (explodes) Name() string                                       { return "bad" }
func (explodes) Caps() bot.Caps                                     { panic("caps exploded") }
func (explodes) Receive(ctx context.Context, _ bot.Inbox) error     { <-ctx.Done(); return nil }
func (explodes) Send(context.Context, bot.Outgoing) (string, error) { return "", nil }

func openRuntime(t *testing.T, dir string, opts ...bot.Option) (*store.Store, *bot.Runtime) {
	t.Helper()
	st, set := openStoreAndFlows(t, filepath.Join(dir, "sewa.db"))
	opts = append([]bot.Option{bot.WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	return st, bot.New(st, set, opts...)
}

// While one commit runs, later calls wait in the queue and are then
// committed together; a queued call whose context ends is left out, and a
// message whose handling fails is kept without failing its companions.
func TestGroupCommitQueuesCallsBehindARunningCommit(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		g := &gated{open: make(chan struct{})}
		st, rt := openRuntime(t, dir, bot.WithChannel(g), bot.WithChannel(explodes{}))
		defer st.Close()
		ctx := context.Background()
		results := make(map[string]error)
		var mu sync.Mutex
		var wg sync.WaitGroup
		accept := func(ctx context.Context, name string, msgs ...bot.Message) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := rt.Accept(ctx, msgs, nil)
				mu.Lock()
				results[name] = err
				mu.Unlock()
			}()
		}
		msg := func(ch, id, user, text string) bot.Message {
			return bot.Message{Channel: ch, ExternalID: id, User: user, Text: text}
		}
		accept(ctx, "leader", msg("gate", "0", "lead", "/start"))
		synctest.Wait() // the leader's commit is held open
		for i := range 10 {
			accept(ctx, fmt.Sprint("follower", i), msg("gate", fmt.Sprint(i+1), fmt.Sprint("u", i), "/request"))
		}
		accept(ctx, "mixed", msg("bad", "x", "boom", "hello"), msg("gate", "20", "u20", "/request"))
		gone, cancel := context.WithCancel(ctx)
		accept(gone, "cancelled", msg("gate", "30", "u30", "/request"))
		synctest.Wait() // everyone is queued
		mu.Lock()
		if len(results) != 0 {
			t.Errorf("calls returned before the running commit ended: %v", results)
		}
		mu.Unlock()
		cancel()
		close(g.open)
		wg.Wait()

		for name, err := range results {
			switch {
			case name == "cancelled":
				if !errors.Is(err, context.Canceled) {
					t.Errorf("cancelled call: %v", err)
				}
			case err != nil:
				t.Errorf("%s: %v", name, err)
			}
		}
		count := func(q string, args ...any) int {
			var n int
			if err := st.DB().QueryRow(q, args...).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := count(`SELECT count(*) FROM inbound WHERE channel = 'gate'`); n != 12 {
			t.Errorf("%d inbound ids committed; want 12 (the cancelled call left out)", n)
		}
		if n := count(`SELECT count(*) FROM inbound WHERE channel = 'gate' AND external_id = '30'`); n != 0 {
			t.Error("the cancelled call was committed")
		}
		if n := count(`SELECT count(*) FROM inbound WHERE channel = 'bad' AND failed LIKE '%panic%'`); n != 1 {
			t.Error("the failing message was not kept")
		}
		if n := count(`SELECT count(*) FROM outbox WHERE channel = 'gate' AND body LIKE '%What is your name%'`); n != 11 {
			t.Errorf("%d chats were asked their name; want 11", n)
		}
	})
}

// Fifty chats walking the request intake at once, each sending its next
// answer when the previous one is committed: every chat's questions come in
// order and every chat ends with its own card.
func TestGroupCommitKeepsEachChatInOrder(t *testing.T) {
	st, rt := openRuntime(t, t.TempDir(), bot.WithChannel(&gated{open: closedChan()}), bot.WithClock(bot.NewFixedClock(start)))
	defer st.Close()
	ctx := context.Background()
	script := []string{"/request", "Asha", "9812345678", "Okhla phase 2", "1", "4", "skip", "skip"}
	var wg sync.WaitGroup
	for c := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, text := range script {
				m := bot.Message{Channel: "gate", ExternalID: fmt.Sprint(c, "-", i), User: fmt.Sprint(9000 + c), Text: text}
				if i == 2 {
					m.Text = fmt.Sprintf("98%08d", c) // one family per chat: no duplicates
				}
				if err := rt.Accept(ctx, []bot.Message{m}, nil); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	rows, err := st.DB().Query(`SELECT address, body FROM outbox WHERE channel = 'gate' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string][]string{}
	for rows.Next() {
		var to, body string
		if err := rows.Scan(&to, &body); err != nil {
			t.Fatal(err)
		}
		got[to] = append(got[to], body)
	}
	want := []string{"What is your name", "mobile number", "Where should the kit reach", "How many families", "How many people", "Anything we should know", "photo of the handwritten list", "Your request is R-"}
	for c := range 50 {
		to := fmt.Sprint(9000 + c)
		if len(got[to]) != len(want) {
			t.Errorf("chat %s got %d replies, want %d: %q", to, len(got[to]), len(want), got[to])
			continue
		}
		for i, w := range want {
			if !strings.Contains(got[to][i], w) {
				t.Errorf("chat %s reply %d = %q; want %q", to, i, got[to][i], w)
			}
		}
	}
	var cards int
	st.DB().QueryRow(`SELECT count(*) FROM cards WHERE flow = 'request'`).Scan(&cards)
	if cards != 50 {
		t.Errorf("%d cards; want 50", cards)
	}
}

func closedChan() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// panickyLog panics when told a failed message was kept, standing in for a
// bug outside any message's savepoint.
type panickyLog struct{ slog.Handler }

func (panickyLog) Enabled(context.Context, slog.Level) bool { return true }

func (h panickyLog) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "message kept") {
		panic("logger exploded")
	}
	return h.Handler.Handle(ctx, r)
}

// A panic outside every message's savepoint fails that commit's calls with
// an error, and the next Accept goes through: the lead is always handed on.
func TestGroupCommitSurvivesAPanicOutsideMessages(t *testing.T) {
	st, rt := openRuntime(t, t.TempDir(), bot.WithChannel(explodes{}), bot.WithChannel(&gated{open: closedChan()}),
		bot.WithLogger(slog.New(panickyLog{slog.DiscardHandler})))
	defer st.Close()
	ctx := context.Background()
	err := rt.Accept(ctx, []bot.Message{{Channel: "bad", ExternalID: "1", User: "x", Text: "hi"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "panic") {
		t.Fatalf("Accept = %v; want the panic as an error", err)
	}
	done := make(chan error, 1)
	go func() {
		done <- rt.Accept(ctx, []bot.Message{{Channel: "gate", ExternalID: "2", User: "y", Text: "/start"}}, nil)
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the next Accept never ran: the lead was not handed on")
	}
	var n int
	st.DB().QueryRow(`SELECT count(*) FROM inbound`).Scan(&n)
	if n != 1 {
		t.Errorf("%d inbound rows; want only the second message's", n)
	}
}

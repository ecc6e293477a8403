package bot_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"sewa/bot"
	"sewa/flows"
	"sewa/store"
)

// The outbox sender's tests run in a synctest bubble: the pacer's real-time
// waits and the retries' backoff take no wall time, and every send happens
// at an exact instant, so that rates can be checked to the millisecond.

// recorder is a channel that records every Send attempt and fails the ones
// its fail function picks.
type recorder struct {
	caps bot.Caps
	fail func(n int, m bot.Outgoing) error // n counts attempts from 0
	slow time.Duration                     // each Send takes this long

	mu        sync.Mutex
	attempts  []attempt
	delivered map[int64]int // outbox id → times delivered
}

type attempt struct {
	at  time.Time
	to  string
	id  int64
	err error
}

func newRecorder(caps bot.Caps, fail func(int, bot.Outgoing) error) *recorder {
	return &recorder{caps: caps, fail: fail, delivered: map[int64]int{}}
}

func (r *recorder) Name() string   { return "rec" }
func (r *recorder) Caps() bot.Caps { return r.caps }
func (r *recorder) Receive(ctx context.Context, _ bot.Inbox) error {
	<-ctx.Done()
	return nil
}

func (r *recorder) Send(ctx context.Context, m bot.Outgoing) (string, error) {
	if r.slow > 0 {
		time.Sleep(r.slow) // a call in flight does not watch ctx
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var err error
	if r.fail != nil {
		err = r.fail(len(r.attempts), m)
	}
	r.attempts = append(r.attempts, attempt{at: time.Now(), to: m.To, id: m.ID, err: err})
	if err != nil {
		return "", err
	}
	r.delivered[m.ID]++
	return strconv.Itoa(len(r.attempts)), nil
}

func (r *recorder) log() ([]attempt, map[int64]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := make(map[int64]int, len(r.delivered))
	for k, v := range r.delivered {
		d[k] = v
	}
	return slices.Clone(r.attempts), d
}

// outboxWorld is a runtime over a fresh database with the recorder as its
// only channel. Make it inside the bubble.
type outboxWorld struct {
	t   *testing.T
	st  *store.Store
	rt  *bot.Runtime
	rec *recorder
}

func newOutboxWorld(t *testing.T, dir string, rec *recorder, opts ...bot.Option) *outboxWorld {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(dir, "sewa.db"))
	if err != nil {
		t.Fatal(err)
	}
	set, err := flows.Default(bot.ActionNames())
	if err != nil {
		t.Fatal(err)
	}
	rt := bot.New(st, set, append([]bot.Option{bot.WithChannel(rec), bot.WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
	return &outboxWorld{t: t, st: st, rt: rt, rec: rec}
}

// enqueue adds one row per address, in order, and returns their ids.
func (w *outboxWorld) enqueue(addresses ...string) []int64 {
	w.t.Helper()
	var ids []int64
	err := w.st.Tx(context.Background(), func(tx *store.Tx) error {
		for _, a := range addresses {
			id, err := tx.Enqueue("rec", a, fmt.Sprintf(`{"text":"message to %s"}`, a), time.Now())
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return ids
}

// run drains the outbox with the real send loop until nothing is pending,
// then stops the runtime and closes the store. It returns how long that
// took.
func (w *outboxWorld) run() time.Duration {
	w.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	t0 := time.Now()
	go func() { done <- w.rt.Run(ctx) }()
	for {
		pending, _, err := w.st.OutboxCounts(context.Background(), "rec")
		if err != nil {
			w.t.Fatal(err)
		}
		if pending == 0 {
			break
		}
		if time.Since(t0) > time.Hour {
			w.t.Fatalf("still %d pending after an hour", pending)
		}
		time.Sleep(100 * time.Millisecond)
	}
	took := time.Since(t0)
	cancel()
	if err := <-done; err != nil {
		w.t.Fatalf("Run: %v", err)
	}
	w.st.Close()
	return took
}

// maxInWindow is the most attempts (to chat, or to anyone when chat is "")
// within any window of length d.
func maxInWindow(as []attempt, chat string, d time.Duration) int {
	var ts []time.Time
	for _, a := range as {
		if chat == "" || a.to == chat {
			ts = append(ts, a.at)
		}
	}
	most, j := 0, 0
	for i := range ts {
		for ts[i].Sub(ts[j]) >= d {
			j++
		}
		most = max(most, i-j+1)
	}
	return most
}

// A burst of 500 messages to 50 chats, queued chat by chat (the worst order
// for a per-chat limit), with one message in ten failing at first — a 429
// with retry_after or a 5xx in turn: each message is delivered exactly once,
// each chat's messages in order, never more than 30 attempts in a second
// overall nor more than one a second to a chat, and close to the limit.
func TestOutboxBurstKeepsLimitsAndDeliversOnce(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		// One message in ten fails its first attempt: a 429 with
		// retry_after or a 5xx, in turn.
		failed := map[int64]bool{}
		rec := newRecorder(bot.Caps{Rate: 30, ChatRate: 1}, func(_ int, m bot.Outgoing) error {
			switch {
			case m.ID%10 != 0 || failed[m.ID]:
				return nil
			case m.ID/10%2 == 0:
				failed[m.ID] = true
				return fmt.Errorf("telegram sendMessage: Too Many Requests: %w", &bot.ErrRateLimited{RetryAfter: time.Second})
			default:
				failed[m.ID] = true
				return fmt.Errorf("telegram sendMessage: Internal Server Error (500): %w", bot.ErrTransient)
			}
		})
		w := newOutboxWorld(t, dir, rec)
		var to []string
		for c := range 50 {
			for range 10 {
				to = append(to, fmt.Sprint(1000+c))
			}
		}
		ids := w.enqueue(to...)
		took := w.run()
		attempts, delivered := rec.log()

		for _, id := range ids {
			if delivered[id] != 1 {
				t.Errorf("outbox row %d delivered %d times", id, delivered[id])
			}
		}
		failures := 0
		for _, a := range attempts {
			if a.err != nil {
				failures++
			}
		}
		if failures != 50 {
			t.Errorf("only %d failures were injected", failures)
		}
		if n := maxInWindow(attempts, "", time.Second); n > 30 {
			t.Errorf("%d attempts within one second; the limit is 30", n)
		}
		for c := range 50 {
			chat := fmt.Sprint(1000 + c)
			if n := maxInWindow(attempts, chat, time.Second); n > 1 {
				t.Errorf("chat %s: %d attempts within one second; the limit is 1", chat, n)
			}
			var order []int64
			for _, a := range attempts {
				if a.to == chat && a.err == nil {
					order = append(order, a.id)
				}
			}
			if !slices.IsSorted(order) {
				t.Errorf("chat %s got its messages out of order: %v", chat, order)
			}
		}
		// Every attempt takes a slot, so 550 attempts at 30/s take 18.3s at
		// the very least. While most chats have messages waiting the sender
		// keeps to the limit; the end of a burst is slower, as the chats
		// whose messages were retried have some left, one a second.
		ideal := time.Duration(float64(len(attempts)) / 30 * float64(time.Second))
		inTime := 0
		for _, a := range attempts {
			if a.at.Sub(attempts[0].at) < ideal {
				inTime++
			}
		}
		t.Logf("%d messages, %d attempts (%d failed) in %s; %.2f of them in the %s the limit allows", len(ids), len(attempts), failures, took,
			float64(inTime)/float64(len(attempts)), ideal.Round(time.Millisecond))
		if inTime < len(attempts)*9/10 || took > 2*ideal {
			t.Errorf("%d of %d attempts within %s, all in %s: too slow", inTime, len(attempts), ideal, took)
		}
	})
}

// A contact who blocked the bot gets one attempt: the contact is marked
// blocked, their other queued messages fail without a call, and nobody else
// is held up.
func TestOutboxBlockedContactGetsNothingMore(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder(bot.Caps{Rate: 30, ChatRate: 1}, func(_ int, m bot.Outgoing) error {
			if m.To == "66" {
				return fmt.Errorf("telegram sendMessage: Forbidden: bot was blocked by the user: %w", bot.ErrBlocked)
			}
			return nil
		})
		w := newOutboxWorld(t, dir, rec)
		ctx := context.Background()
		// The contact exists: they wrote first.
		if err := w.rt.Accept(ctx, []bot.Message{{Channel: "rec", ExternalID: "1", User: "66", Name: "Gone", Text: "/start"}}, nil); err != nil {
			t.Fatal(err)
		}
		ids := w.enqueue("66", "67", "66", "67", "66")
		w.run()
		attempts, delivered := rec.log()
		calls := 0
		for _, a := range attempts {
			if a.to == "66" {
				calls++
			}
		}
		if calls != 1 {
			t.Errorf("%d calls to the blocked contact; want 1", calls)
		}
		if delivered[ids[1]] != 1 || delivered[ids[3]] != 1 {
			t.Errorf("the other contact's messages: %v", delivered)
		}
		st, err := store.Open(ctx, filepath.Join(dir, "sewa.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		var blocked sql.NullInt64
		st.DB().QueryRow(`SELECT blocked_at FROM contacts WHERE channel = 'rec' AND address = '66'`).Scan(&blocked)
		if !blocked.Valid {
			t.Error("the contact is not marked blocked")
		}
		var failed, most int
		st.DB().QueryRow(`SELECT count(*), max(attempts) FROM outbox WHERE address = '66' AND status = 'failed'`).Scan(&failed, &most)
		if failed != 4 || most != 1 {
			t.Errorf("blocked contact's rows: %d failed, at most %d attempts; want 4 failed, no retry", failed, most)
		}
	})
}

// A volunteer who blocks the bot is reported to the coordinators once, and
// writing again undoes the block.
func TestVolunteerWhoBlocksIsReported(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder(bot.Caps{}, func(_ int, m bot.Outgoing) error {
			if m.To == "66" {
				return fmt.Errorf("Forbidden: bot was blocked by the user: %w", bot.ErrBlocked)
			}
			return nil
		})
		w := newOutboxWorld(t, dir, rec, bot.WithCoordinators("rec:1"))
		ctx := context.Background()
		for _, m := range []bot.Message{
			{Channel: "rec", ExternalID: "1", User: "1", Name: "Kavita", Text: "/help"},
			{Channel: "rec", ExternalID: "2", User: "66", Name: "Ravi", Text: "/help"},
		} {
			if err := w.rt.Accept(ctx, []bot.Message{m}, nil); err != nil {
				t.Fatal(err)
			}
		}
		err := w.st.Tx(ctx, func(tx *store.Tx) error {
			c, err := tx.Contact("rec", "66")
			if err != nil {
				return err
			}
			c.Roles = []string{bot.RoleCaller}
			return tx.SaveContact(c)
		})
		if err != nil {
			t.Fatal(err)
		}
		w.enqueue("66", "66")
		w.run() // sends, then closes the store
		st, err := store.Open(ctx, filepath.Join(dir, "sewa.db"))
		if err != nil {
			t.Fatal(err)
		}
		var told int
		st.DB().QueryRow(`SELECT count(*) FROM outbox WHERE address = '1' AND body LIKE '%Ravi (rec:66) has blocked the bot%'`).Scan(&told)
		st.Close()
		if told != 1 {
			t.Fatalf("coordinator told %d times, want 1", told)
		}
		w = newOutboxWorld(t, dir, rec, bot.WithCoordinators("rec:1"))
		defer w.st.Close()
		if err := w.rt.Accept(ctx, []bot.Message{{Channel: "rec", ExternalID: "3", User: "66", Name: "Ravi", Text: "sorry, back", At: time.Now().Add(time.Hour)}}, nil); err != nil {
			t.Fatal(err)
		}
		var blocked sql.NullInt64
		w.st.DB().QueryRow(`SELECT blocked_at FROM contacts WHERE address = '66'`).Scan(&blocked)
		if blocked.Valid {
			t.Error("writing again did not undo the block")
		}
	})
}

// A message that keeps failing transiently is retried with growing pauses
// and given up after a bounded number of attempts.
func TestOutboxGivesUpAfterBoundedRetries(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder(bot.Caps{}, func(int, bot.Outgoing) error {
			return fmt.Errorf("telegram sendMessage: HTTP 502: %w", bot.ErrTransient)
		})
		w := newOutboxWorld(t, dir, rec)
		ids := w.enqueue("5")
		w.run()
		attempts, _ := rec.log()
		if len(attempts) != 8 {
			t.Fatalf("%d attempts; want 8", len(attempts))
		}
		for i := 1; i < len(attempts); i++ {
			gap := attempts[i].at.Sub(attempts[i-1].at)
			if least := (time.Second << (i - 1)) / 2; gap < least {
				t.Errorf("retry %d after %s; want at least %s", i, gap, least)
			}
		}
		st, err := store.Open(context.Background(), filepath.Join(dir, "sewa.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		var status string
		st.DB().QueryRow(`SELECT status FROM outbox WHERE id = ?`, ids[0]).Scan(&status)
		if status != "failed" {
			t.Errorf("status %q after giving up", status)
		}
	})
}

// A chat's later messages wait behind one being retried; other chats do not.
func TestOutboxKeepsChatOrderAcrossRetries(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder(bot.Caps{Rate: 30, ChatRate: 1}, nil)
		w := newOutboxWorld(t, dir, rec)
		ids := w.enqueue("1", "1", "2", "1", "2")
		failsLeft := 3
		rec.fail = func(_ int, m bot.Outgoing) error {
			if m.ID == ids[0] && failsLeft > 0 {
				failsLeft--
				return fmt.Errorf("timeout: %w", bot.ErrTransient)
			}
			return nil
		}
		w.run()
		attempts, delivered := rec.log()
		var order []int64
		for _, a := range attempts {
			if a.to == "1" && a.err == nil {
				order = append(order, a.id)
			}
		}
		if want := []int64{ids[0], ids[1], ids[3]}; !slices.Equal(order, want) {
			t.Errorf("chat 1 got %v; want %v", order, want)
		}
		if delivered[ids[2]] != 1 || delivered[ids[4]] != 1 {
			t.Errorf("chat 2 was held up: %v", delivered)
		}
	})
}

// Stopping the bot while a send is in flight lets the send finish and
// records it, so that the next start does not send it again.
func TestOutboxShutdownRecordsInFlightSend(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder(bot.Caps{}, nil)
		rec.slow = 2 * time.Second
		w := newOutboxWorld(t, dir, rec)
		ids := w.enqueue("9")
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.rt.Run(ctx) }()
		time.Sleep(time.Second) // the send is in flight
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		var status string
		w.st.DB().QueryRow(`SELECT status FROM outbox WHERE id = ?`, ids[0]).Scan(&status)
		if status != "sent" {
			t.Errorf("status %q after a send finished during shutdown", status)
		}
		w.st.Close()
	})
}

// A database that is briefly busy (another connection holds the write lock)
// when a confirmed send is recorded delays the record; it does not lose it,
// so the message is not sent again. (Real time: the lock is held 300ms.)
func TestOutboxRecordsSentWhileDatabaseBusy(t *testing.T) {
	dir := t.TempDir()
	var db *sql.DB
	rec := newRecorder(bot.Caps{}, func(n int, _ bot.Outgoing) error {
		if n != 0 {
			return nil
		}
		locker, err := db.Begin()
		if err != nil {
			return err
		}
		if _, err := locker.Exec(`INSERT INTO cursors (name, value) VALUES ('lock', 1)`); err != nil {
			locker.Rollback()
			return err
		}
		time.AfterFunc(300*time.Millisecond, func() { locker.Rollback() })
		return nil
	})
	w := newOutboxWorld(t, dir, rec)
	var err error
	db, err = sql.Open("sqlite", "file:"+filepath.Join(dir, "sewa.db")+"?_pragma=busy_timeout(10000)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ids := w.enqueue("1", "2", "3")
	w.run()
	_, delivered := rec.log()
	for _, id := range ids {
		if delivered[id] != 1 {
			t.Errorf("row %d delivered %d times", id, delivered[id])
		}
	}
}

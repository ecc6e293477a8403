package bot_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"sewa/bot"
	"sewa/bot/console"
	"sewa/bot/telegram"
	"sewa/bot/telegram/fakeapi"
	"sewa/flows"
	"sewa/store"
)

// quietChannel is a console that never sends: the benchmark measures the
// inbound path alone.
type quietChannel struct{ bot.Channel }

func (quietChannel) Name() string   { return console.Name }
func (quietChannel) Caps() bot.Caps { return bot.Caps{} }

// benchScript is what each chat of the inbound benchmarks types: the
// request intake, one answer at a time.
var benchScript = []string{"/request", "Asha", "9812345678", "Okhla", "1", "4", "skip", "skip"}

// BenchmarkInbound measures one inbound text message → engine step →
// committed transaction (inbound id, contact, session, card/event, outbox),
// one transaction per message, on a real file with WAL and synchronous=FULL,
// and reports beside it the raw rate of as many durable single-row inserts
// into the same kind of database: the physical limit.
func BenchmarkInbound(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	_, rt := benchRuntime(b, bot.WithChannel(quietChannel{})) // money_test.go
	// Each chat walks the request intake; 50 chats take turns.
	script := benchScript
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		chat := i % 50
		round := i / 50
		m := bot.Message{Channel: console.Name, ExternalID: fmt.Sprint(i), User: fmt.Sprint("u", chat, "-", round/len(script)),
			Text: script[round%len(script)]}
		if round%len(script) == 2 {
			m.Text = fmt.Sprintf("98%08d", i) // a family of its own: a new card each time
		}
		t0 := time.Now()
		if err := rt.Accept(ctx, []bot.Message{m}, nil); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	elapsed := b.Elapsed()
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	raw := rawInserts(b, filepath.Join(dir, "raw.db"), b.N)
	b.ReportMetric(raw, "raw-inserts/s")
	b.ReportMetric(float64(b.N)/elapsed.Seconds()/raw, "x-raw")
}

// rawInserts times n durable single-row insert transactions.
func rawInserts(b *testing.B, path string, n int) float64 {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_txlock=immediate")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)`); err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	for i := range n {
		tx, err := db.Begin()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tx.Exec(`INSERT INTO t (v) VALUES (?)`, fmt.Sprint("row ", i)); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	return float64(n) / time.Since(t0).Seconds()
}

// BenchmarkInboundConcurrent is BenchmarkInbound with 50 chats writing at
// once, as the Telegram webhook, WhatsApp or several polling batches do:
// each chat sends its next message when the previous one is committed, and
// Accept commits the calls that queue up meanwhile together (group commit).
// Beside it, the same number of raw durable single-row inserts.
func BenchmarkInboundConcurrent(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	_, rt := benchRuntime(b, bot.WithChannel(quietChannel{})) // money_test.go
	script := benchScript
	const chats = 50
	lats := make([][]time.Duration, chats)
	var wg sync.WaitGroup
	b.ResetTimer()
	for c := range chats {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; i < b.N; i += chats {
				round := i / chats
				m := bot.Message{Channel: console.Name, ExternalID: fmt.Sprint(i), User: fmt.Sprint("u", c, "-", round/len(script)),
					Text: script[round%len(script)]}
				if round%len(script) == 2 {
					m.Text = fmt.Sprintf("98%08d", i)
				}
				t0 := time.Now()
				if err := rt.Accept(ctx, []bot.Message{m}, nil); err != nil {
					b.Error(err)
					return
				}
				lats[c] = append(lats[c], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := b.Elapsed()
	b.StopTimer()
	lat := slices.Concat(lats...)
	slices.Sort(lat)
	if len(lat) == 0 {
		return
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	raw := rawInserts(b, filepath.Join(dir, "raw.db"), b.N)
	b.ReportMetric(raw, "raw-inserts/s")
	b.ReportMetric(float64(b.N)/elapsed.Seconds()/raw, "x-raw")
}

// BenchmarkOutbound drains 3,000 messages to 300 chats (queued chat by chat,
// the hardest order for a per-chat limit) through the Telegram adapter and
// the real outbox sender, against the fake Bot API enforcing Telegram's
// limits: 30 messages a second overall and one a second per chat, answering
// 429 with retry_after beyond them. It reports the rate achieved between the
// first send and the last as a fraction of the limit, and every 429. It
// takes about 100 seconds: run it with -benchtime 1x.
func BenchmarkOutbound(b *testing.B) {
	for range b.N {
		outboundOnce(b, 300, 10)
	}
}

func outboundOnce(b *testing.B, chats, each int) {
	ctx := context.Background()
	const token = "7000001:AAH-bench_t0ken"
	api := fakeapi.New(b, token, fakeapi.WithLimits(30, 1))
	dir := b.TempDir()
	st, err := store.Open(ctx, filepath.Join(dir, "sewa.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	err = st.Tx(ctx, func(tx *store.Tx) error {
		for c := range chats {
			api.AddUser(fakeapi.User{ID: int64(100000 + c), FirstName: "Chat"})
			for k := range each {
				body, _ := json.Marshal(bot.Outgoing{Text: fmt.Sprintf("message %d to chat %d", k, c)})
				if _, err := tx.Enqueue(telegram.ChannelName, fmt.Sprint(100000+c), string(body), time.Now()); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	ad, err := telegram.New(ctx, token, telegram.WithAPIURL(api.URL()), telegram.WithHTTPClient(api.Client()),
		telegram.WithCursors(st), telegram.WithDataDir(dir), telegram.WithLogger(log), telegram.WithPollTimeout(time.Second))
	if err != nil {
		b.Fatal(err)
	}
	set, err := flows.Default(bot.ActionNames())
	if err != nil {
		b.Fatal(err)
	}
	rt := bot.New(st, set, bot.WithChannel(ad), bot.WithLogger(log))
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rt.Run(runCtx) }()
	for {
		pending, failed, err := st.OutboxCounts(ctx, telegram.ChannelName)
		if err != nil {
			b.Fatal(err)
		}
		if failed > 0 {
			b.Fatalf("%d messages failed", failed)
		}
		if pending == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	calls := api.Calls("sendMessage")
	n := chats * each
	if len(api.Sent()) != n || api.Duplicates() != 0 {
		b.Fatalf("%d delivered (%d duplicates); want %d once each", len(api.Sent()), api.Duplicates(), n)
	}
	for i, c := range calls {
		if c.Status != 429 {
			continue
		}
		// Say why: how many calls the fake had seen in the second before.
		all, chat := 0, 0
		for _, d := range calls[:i] {
			if c.At.Sub(d.At) < time.Second {
				all++
				if d.Params["chat_id"] == c.Params["chat_id"] {
					chat++
				}
			}
		}
		b.Logf("429 at call %d to chat %s: %d calls in the second before, %d to that chat", i, c.Params["chat_id"], all, chat)
	}
	span := calls[len(calls)-1].At.Sub(calls[0].At)
	rate := float64(len(calls)-1) / span.Seconds()
	b.ReportMetric(rate, "msgs/s")
	b.ReportMetric(rate/30, "x-limit")
	b.ReportMetric(float64(api.TooManyRequestsAnswered()), "429s")
	b.ReportMetric(span.Seconds(), "send-s")
}

package bot_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sewa/bot"
	"sewa/bot/console"
	"sewa/flows"
	"sewa/internal/pgtest"
	"sewa/store"
)

// benchQuiet is a console that never sends: the inbound path alone.
type benchQuiet struct{ bot.Channel }

func (benchQuiet) Name() string   { return console.Name }
func (benchQuiet) Caps() bot.Caps { return bot.Caps{} }

// BenchmarkInboundBackends is the inbound path (message → engine step →
// one committed transaction) on SQLite beside PostgreSQL (the server named
// by SEWA_TEST_POSTGRES, on this machine):
//
//   - serial: one message at a time, each waiting for its commit;
//
//   - 50 chats: 50 chats at once in one process (group commit);
//
//   - 3 processes: PostgreSQL only, three runtimes on three connections
//     pools to one database, 50 chats each, as three sewa processes would.
//
//     go test ./bot/ -run '^$' -bench InboundBackends -benchtime 2000x
func BenchmarkInboundBackends(b *testing.B) {
	set, err := flows.Default(bot.ActionNames())
	if err != nil {
		b.Fatal(err)
	}
	backends := []struct{ name, dsn string }{{"sqlite", ""}}
	if _, ok := pgtest.URL(b); ok {
		backends = append(backends, struct{ name, dsn string }{"postgres", "pg"})
	}
	for _, be := range backends {
		open := func(b *testing.B) string {
			if be.dsn == "" {
				return filepath.Join(b.TempDir(), "sewa.db")
			}
			return pgtest.Fresh(b, b.Name())
		}
		b.Run(be.name+"/serial", func(b *testing.B) { benchInbound(b, set, open(b), 1, 1) })
		b.Run(be.name+"/50-chats", func(b *testing.B) { benchInbound(b, set, open(b), 1, 50) })
		if be.dsn != "" {
			b.Run(be.name+"/3-processes", func(b *testing.B) { benchInbound(b, set, open(b), 3, 50) })
		}
	}
}

// benchInbound sends b.N messages through procs runtimes (each with its
// own store on dsn), chats at a time in each, and reports messages per
// second.
func benchInbound(b *testing.B, set *flows.Set, dsn string, procs, chats int) {
	ctx := context.Background()
	var rts []*bot.Runtime
	for range procs {
		st, err := store.Open(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		rts = append(rts, bot.New(st, set, bot.WithChannel(benchQuiet{}), bot.WithClock(bot.NewFixedClock(time.Now())),
			bot.WithLogger(slog.New(slog.DiscardHandler))))
	}
	script := benchScript
	var next atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for p, rt := range rts {
		for c := range chats {
			wg.Go(func() {
				for turn := 0; ; turn++ {
					i := next.Add(1) - 1
					if i >= int64(b.N) {
						return
					}
					m := bot.Message{Channel: console.Name, ExternalID: fmt.Sprint(i), User: fmt.Sprint("u", p, "-", c, "-", turn/len(script)),
						Text: script[turn%len(script)]}
					if turn%len(script) == 2 {
						m.Text = fmt.Sprintf("98%08d", i)
					}
					if err := rt.Accept(ctx, []bot.Message{m}, nil); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

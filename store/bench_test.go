package store_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"sewa/bot"
	"sewa/flows"
	_ "sewa/internal/golden" // declares -update for go test ./... -update
	"sewa/store"
)

// BenchmarkScale seeds a database the size of a busy group's year and times
// what coordinators and volunteers do against it: through the store's own
// functions, the /status aggregates (Tx.Board), the stale-card scan of the
// reminders (Tx.StaleCards over every stage that can go stale) and a /next
// claim (Tx.NextFree then Tx.ClaimCard, committed durably); and through the
// bot (Runtime.Accept), the /status and /next commands as a person sends
// them, reply and commit included. It reports the database's size and the
// process's RSS.
//
// The size is SEWA_BENCH_CARDS (default 20,000, so that -bench=. stays
// quick); the README's figures use SEWA_BENCH_CARDS=1000000:
//
//	SEWA_BENCH_CARDS=1000000 go test -run '^$' -bench BenchmarkScale -benchtime 200x ./store/
func BenchmarkScale(b *testing.B) {
	n := 20000
	if s := os.Getenv("SEWA_BENCH_CARDS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1000 {
			b.Fatalf("SEWA_BENCH_CARDS=%q: want a number of cards, at least 1000", s)
		}
		n = v
	}
	ctx := context.Background()
	set, err := flows.Default(bot.ActionNames())
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "sewa.db")
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	t0 := time.Now()
	seeded, err := Seed(ctx, path, set, n, now)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d cards, %d events, %d contacts in %s", seeded.Cards, seeded.Events, seeded.Contacts, time.Since(t0).Round(time.Millisecond))
	st, err := store.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	size := fileSize(path)
	// The peak RSS from here on is the bot's, not the seeding's.
	debug.FreeOSMemory()
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)

	var board []store.StageQuery
	type staleQ struct {
		flow, stage string
		after       time.Duration
	}
	var stale []staleQ
	var work []store.StageRef
	for _, f := range set.Flows {
		for _, s := range f.Stages {
			if s.Final {
				continue
			}
			q := store.StageQuery{Flow: f.ID, Stage: s.ID}
			if s.StaleAfter > 0 {
				q.StaleBefore = now.Add(-time.Duration(s.StaleAfter))
				stale = append(stale, staleQ{f.ID, s.ID, time.Duration(s.StaleAfter)})
			}
			board = append(board, q)
			if s.Role == "caller" || s.Role == "logistics" {
				work = append(work, store.StageRef{Flow: f.ID, Stage: s.ID})
			}
		}
	}

	b.Run("status", func(b *testing.B) {
		lat := timed(b, func(int) error {
			return st.Tx(ctx, func(tx *store.Tx) error {
				stats, err := tx.Board(board)
				if err == nil && len(stats) < len(board) {
					err = fmt.Errorf("board has %d stages, asked %d", len(stats), len(board))
				}
				return err
			})
		})
		report(b, lat, size, n)
	})
	b.Run("stale-scan", func(b *testing.B) {
		found := 0
		lat := timed(b, func(int) error {
			return st.Tx(ctx, func(tx *store.Tx) error {
				for _, q := range stale {
					cards, err := tx.StaleCards(q.flow, q.stage, now.Add(-q.after), now.Add(-2*q.after), 200)
					if err != nil {
						return err
					}
					found += len(cards)
				}
				return nil
			})
		})
		if found == 0 {
			b.Error("the scan found no stale card")
		}
		report(b, lat, size, n)
	})
	b.Run("next-claim", func(b *testing.B) {
		claimed := 0
		lat := timed(b, func(i int) error {
			who := seeded.Volunteers[i%(len(seeded.Volunteers)/2)] // the first half; /next below uses the others
			return st.Tx(ctx, func(tx *store.Tx) error {
				c, err := tx.NextFree(work, who, now)
				if err != nil {
					return err
				}
				ok, err := tx.ClaimCard(c.ID, c.Stage, who, now, now.Add(30*time.Minute))
				if ok {
					claimed++
				}
				return err
			})
		})
		if claimed != b.N {
			b.Errorf("%d of %d claims won", claimed, b.N)
		}
		report(b, lat, size, n)
	})

	// The same through the bot, as a person sees it: one inbound message
	// → router → command → reply in the outbox, committed durably.
	const boss = "900000001"
	rt := bot.New(st, set, bot.WithChannel(quiet{}), bot.WithClock(bot.NewFixedClock(now)),
		bot.WithLogger(slog.New(slog.DiscardHandler)), bot.WithCoordinators("tg:"+boss))
	say := func(i int, user, text string) error {
		return rt.Accept(ctx, []bot.Message{{Channel: "tg", ExternalID: fmt.Sprint(user, "-", i, "-", text), User: user, Text: text}}, nil)
	}
	b.Run("status-command", func(b *testing.B) {
		lat := timed(b, func(i int) error { return say(i, boss, "/status") })
		report(b, lat, size, n)
	})
	nextVolunteer := len(seeded.Volunteers) / 2 // the first half claimed above
	b.Run("next-command", func(b *testing.B) {
		if nextVolunteer+b.N > len(seeded.Volunteers) {
			b.Fatalf("at most %d iterations in all (one /next per volunteer)", len(seeded.Volunteers)/2)
		}
		before := held(b, st)
		lat := timed(b, func(i int) error { return say(i, fmt.Sprint(800000000+nextVolunteer+i), "/next") })
		if got := held(b, st) - before; got != b.N {
			b.Errorf("%d cards taken by %d /next", got, b.N)
		}
		nextVolunteer += b.N
		report(b, lat, size, n)
	})
}

// quiet is a Telegram-named channel that sends nothing: replies stay in the
// outbox.
type quiet struct{}

func (quiet) Name() string                                       { return "tg" }
func (quiet) Caps() bot.Caps                                     { return bot.Caps{} }
func (quiet) Receive(ctx context.Context, _ bot.Inbox) error     { <-ctx.Done(); return nil }
func (quiet) Send(context.Context, bot.Outgoing) (string, error) { return "", nil }

func held(b *testing.B, st *store.Store) int {
	var n int
	if err := st.DB().QueryRow(`SELECT count(*) FROM cards WHERE assignee IS NOT NULL AND open = 1`).Scan(&n); err != nil {
		b.Fatal(err)
	}
	return n
}

// timed runs fn b.N times and returns the latencies, sorted.
func timed(b *testing.B, fn func(i int) error) []time.Duration {
	b.Helper()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		if err := fn(i); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	return lat
}

func report(b *testing.B, lat []time.Duration, dbSize int64, cards int) {
	b.ReportMetric(float64(cards), "cards")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(dbSize)/(1<<20), "db-MB")
	rss, hwm := memory()
	b.ReportMetric(rss, "rss-MB")
	b.ReportMetric(hwm, "peak-rss-MB")
}

func fileSize(path string) int64 {
	var total int64
	for _, p := range []string{path, path + "-wal"} {
		if st, err := os.Stat(p); err == nil {
			total += st.Size()
		}
	}
	return total
}

// memory is the process's resident set now and at its peak, in MB (Linux).
func memory() (rss, peak float64) {
	runtime.GC()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		switch k {
		case "VmRSS":
			rss = kb / 1024
		case "VmHWM":
			peak = kb / 1024
		}
	}
	return rss, peak
}

// Seeded says what Seed wrote.
type Seeded struct {
	Cards, Events, Contacts int
	Volunteers              []int64 // contact ids with the caller and logistics roles
}

// Seed fills a new database at path with n cards spread over the year
// before now, as a busy group's year leaves it: 60% requests, 30%
// donations, 9% outreach, 1% volunteer applications; each card's history
// (created, then one move per stage it went through, about five events a
// card); one requester per five cards; 2,000 volunteers, last seen spread
// over the year (a handful of them today). The newest 5% are
// still open, spread over their flow's working stages (the oldest of them
// are stale); the rest are done.
//
// It is the fast path: the schema comes from store.Open, then rows go in
// through prepared statements in transactions of 50,000 rows on a
// connection with synchronous=OFF (a crash while seeding loses nothing that
// matters), and the WAL is checkpointed at the end. The store's triggers
// keep their aggregates as they would in use.
func Seed(ctx context.Context, path string, set *flows.Set, n int, now time.Time) (Seeded, error) {
	var out Seeded
	st, err := store.Open(ctx, path)
	if err != nil {
		return out, err
	}
	st.Close()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(0)&_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)&_pragma=cache_size(-65536)")
	if err != nil {
		return out, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	type flowPlan struct {
		id, prefix    string
		stages        []string // in file order
		open, closed  []int    // indexes into stages
		share, number int
	}
	shares := map[string]int{"request": 60, "donation": 30, "outreach": 9, "volunteer": 1}
	var plans []*flowPlan
	for _, f := range set.Flows {
		p := &flowPlan{id: f.ID, prefix: f.Prefix, share: shares[f.ID]}
		for i, s := range f.Stages {
			p.stages = append(p.stages, s.ID)
			if s.Final {
				p.closed = append(p.closed, i)
			} else if s.Role != "system" {
				p.open = append(p.open, i)
			}
		}
		if p.share > 0 && len(p.open) > 0 && len(p.closed) > 0 {
			plans = append(plans, p)
		}
	}
	if len(plans) == 0 {
		return out, fmt.Errorf("seed: no flow to seed")
	}
	byShare := make([]*flowPlan, 0, 100)
	for len(byShare) < 100 {
		for _, p := range plans {
			for range p.share {
				byShare = append(byShare, p)
			}
		}
	}

	const batch = 50000
	var tx *sql.Tx
	var stmts map[string]*sql.Stmt
	rows := 0
	begin := func() error {
		var err error
		if tx, err = db.BeginTx(ctx, nil); err != nil {
			return err
		}
		stmts = map[string]*sql.Stmt{}
		for k, q := range map[string]string{
			"contact": `INSERT INTO contacts (channel, address, name, phone, lang, roles, created_at, last_seen) VALUES (?, ?, ?, ?, 'en', ?, ?, ?)`,
			"card": `INSERT INTO cards (id, flow, stage, open, fields, requester, assignee, lease_until, priority, created_at, updated_at, stage_entered_at)
				VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, 0, ?, ?, ?)`,
			"event": `INSERT INTO card_events (card_id, at, actor, from_stage, to_stage, what) VALUES (?, ?, ?, ?, ?, ?)`,
		} {
			if stmts[k], err = tx.PrepareContext(ctx, q); err != nil {
				return err
			}
		}
		return nil
	}
	step := func() error {
		rows++
		if rows%batch != 0 {
			return nil
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		return begin()
	}
	if err := begin(); err != nil {
		return out, err
	}
	yearMS := int64(365 * 24 * time.Hour / time.Millisecond)
	start := now.UnixMilli() - yearMS
	requesters := max(n/5, 1)
	for i := range requesters {
		if _, err := stmts["contact"].Exec("tg", fmt.Sprint(500000000+i), fmt.Sprint("Person ", i), fmt.Sprintf("9%09d", i), "", start, start); err != nil {
			return out, err
		}
		if err := step(); err != nil {
			return out, err
		}
	}
	for i := range 2000 {
		res, err := stmts["contact"].Exec("tg", fmt.Sprint(800000000+i), fmt.Sprint("Volunteer ", i), fmt.Sprintf("8%09d", i), "caller logistics", start, start+int64(i+1)*yearMS/2000)
		if err != nil {
			return out, err
		}
		id, _ := res.LastInsertId()
		out.Volunteers = append(out.Volunteers, id)
		if err := step(); err != nil {
			return out, err
		}
	}
	out.Contacts = requesters + 2000
	openFrom := n - n/20
	for i := range n {
		p := byShare[i%100]
		p.number++
		id := p.prefix + "-" + strconv.Itoa(p.number)
		created := start + int64(i)*yearMS/int64(n)
		open := i >= openFrom
		var at int
		if open {
			at = p.open[i%len(p.open)]
		} else {
			at = p.closed[(i/100)%len(p.closed)]
		}
		fields, _ := json.Marshal(map[string]string{"name": fmt.Sprint("Person ", i%requesters), "phone": fmt.Sprintf("9%09d", i%requesters),
			"address": fmt.Sprint("Gali ", i%97, ", Okhla"), "families": "2", "people": "9", "kits": "2"})
		// One event per stage passed; an hour between them.
		entered := created + int64(at)*3600000
		if open {
			entered = created
		}
		if _, err := stmts["card"].Exec(id, p.id, p.stages[at], open, string(fields), i%requesters+1, created, entered, entered); err != nil {
			return out, fmt.Errorf("card %s: %w", id, err)
		}
		if err := step(); err != nil {
			return out, err
		}
		prev := ""
		for s := 0; s <= at; s++ {
			if open && s > 0 {
				break // an open card was created into its stage
			}
			to := p.stages[s]
			if open {
				to = p.stages[at]
			}
			what := ""
			if s == 0 {
				what = "created"
			}
			if _, err := stmts["event"].Exec(id, created+int64(s)*3600000, "system", prev, to, what); err != nil {
				return out, err
			}
			out.Events++
			if err := step(); err != nil {
				return out, err
			}
			prev = to
		}
	}
	out.Cards = n
	if err := tx.Commit(); err != nil {
		return out, err
	}
	for _, p := range plans {
		if _, err := db.ExecContext(ctx, `INSERT INTO card_seq (prefix, last) VALUES (?, ?) ON CONFLICT (prefix) DO UPDATE SET last = excluded.last`, p.prefix, p.number); err != nil {
			return out, err
		}
	}
	_, err = db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return out, err
}

package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"sewa/internal/pgtest"
	"sewa/store"
)

// One lease, many processes asking at once: exactly one holds it; it renews
// its own; nobody takes it before it runs out; anyone may after; a release
// frees it at once.
func TestTakeLease(t *testing.T) { eachBackend(t, testTakeLease) }

func testTakeLease(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sewa.db")
	a, b := open(t, path), open(t, path)
	ctx := context.Background()
	const ttl = 30 * time.Second
	var mu sync.Mutex
	var winners []string
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			holder := fmt.Sprint("p", i)
			ok, err := []*store.Store{a, b}[i%2].TakeLease(ctx, "telegram:poll", holder, ttl, t0)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				winners = append(winners, holder)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("holders %v, want exactly one", winners)
	}
	w := winners[0]
	steps := []struct {
		holder string
		at     time.Duration
		want   bool
	}{
		{"other", 10 * time.Second, false}, // still held
		{w, 20 * time.Second, true},        // renewed: now until 50s
		{"other", 45 * time.Second, false}, // the renewal counts
		{"other", 51 * time.Second, true},  // ran out: taken over
		{w, 52 * time.Second, false},       // the old holder lost it
	}
	for _, s := range steps {
		ok, err := a.TakeLease(ctx, "telegram:poll", s.holder, ttl, t0.Add(s.at))
		if err != nil || ok != s.want {
			t.Fatalf("%s at +%s: %v, %v; want %v", s.holder, s.at, ok, err, s.want)
		}
	}
	if h, until, err := b.LeaseHolder(ctx, "telegram:poll"); err != nil || h != "other" || !until.Equal(t0.Add(81*time.Second)) {
		t.Fatalf("holder %q until %s, %v", h, until, err)
	}
	if err := a.ReleaseLease(ctx, "telegram:poll", w); err != nil { // not w's: nothing happens
		t.Fatal(err)
	}
	if ok, _ := a.TakeLease(ctx, "telegram:poll", w, ttl, t0.Add(53*time.Second)); ok {
		t.Fatal("a release by a non-holder freed the lease")
	}
	if err := a.ReleaseLease(ctx, "telegram:poll", "other"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := a.TakeLease(ctx, "telegram:poll", w, ttl, t0.Add(53*time.Second)); !ok {
		t.Fatal("a released lease was not free")
	}
	if ok, _ := a.TakeLease(ctx, "scheduler", "other", ttl, t0.Add(53*time.Second)); !ok {
		t.Fatal("leases of different names are not independent")
	}
}

// Outbox rows claimed by processes: a row held by a live process is
// nobody else's; a chat's later rows wait while an earlier one is held
// elsewhere or waits for a retry; a dead process's claims (its process
// lease ran out) are free again; claims are released on shutdown.
func TestOutboxClaims(t *testing.T) { eachBackend(t, testOutboxClaims) }

func testOutboxClaims(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sewa.db")
	a, b := open(t, path), open(t, path)
	ctx := context.Background()
	var ids []int64
	tx(t, a, func(tx *store.Tx) error {
		for _, to := range []string{"x", "x", "y"} {
			id, err := tx.Enqueue("tg", to, `{"text":"hi"}`, t0)
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	alive := func(st *store.Store, p string, at time.Time) {
		t.Helper()
		if ok, err := st.TakeLease(ctx, store.ProcessLease(p), p, 20*time.Second, at); !ok || err != nil {
			t.Fatalf("process lease of %s: %v, %v", p, ok, err)
		}
	}
	claim := func(st *store.Store, p string, id int64, at time.Time, want bool) {
		t.Helper()
		ok, err := st.ClaimOutbound(ctx, id, p, at, at.Add(90*time.Second), 0)
		if err != nil || ok != want {
			t.Fatalf("%s claims %d at +%s: %v, %v; want %v", p, id, at.Sub(t0), ok, err, want)
		}
	}
	due := func(st *store.Store, p string, at time.Time) []int64 {
		t.Helper()
		rows, err := st.DueFor(ctx, "tg", p, at, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, r := range rows {
			out = append(out, r.ID)
		}
		return out
	}
	alive(a, "A", t0)
	alive(b, "B", t0)
	claim(a, "A", ids[0], t0, true)
	claim(a, "A", ids[0], t0, true)  // its own again
	claim(b, "B", ids[0], t0, false) // held by A
	claim(b, "B", ids[1], t0, false) // x's first row is A's: x waits
	claim(b, "B", ids[2], t0, true)  // y is free
	if got := due(b, "B", t0); fmt.Sprint(got) != fmt.Sprint([]int64{ids[2]}) {
		t.Fatalf("B may send %v, want only %d", got, ids[2])
	}
	if next, err := b.NextDueFor(ctx, "tg", "B", t0); err != nil || !next.Equal(t0) {
		t.Fatalf("next due for B: %s, %v", next, err)
	}
	// A sends x's first row: x's second is free for anyone.
	if err := a.MarkSent(ctx, ids[0], "m1", t0); err != nil {
		t.Fatal(err)
	}
	claim(b, "B", ids[1], t0, true)
	// B is told to retry it in a minute: nobody sends it, or x's rows after it, before then.
	if err := b.MarkRetry(ctx, ids[1], t0.Add(time.Minute), "429"); err != nil {
		t.Fatal(err)
	}
	var later int64
	tx(t, a, func(tx *store.Tx) error {
		var err error
		later, err = tx.Enqueue("tg", "x", `{"text":"again"}`, t0)
		return err
	})
	claim(a, "A", later, t0.Add(time.Second), false)
	if got := due(a, "A", t0.Add(time.Second)); len(got) != 0 {
		t.Fatalf("A may send %v during x's retry wait", got)
	}
	// B dies holding y's row: once its process lease runs out, A takes it.
	alive(a, "A", t0.Add(30*time.Second))
	claim(a, "A", ids[2], t0.Add(10*time.Second), false)
	claim(a, "A", ids[2], t0.Add(30*time.Second), true)
	claim(a, "A", ids[1], t0.Add(61*time.Second), true) // the retry is due
	// A stops cleanly: its claims are given up for the next process.
	if err := a.ReleaseClaims(ctx, "A"); err != nil {
		t.Fatal(err)
	}
	alive(b, "B", t0.Add(62*time.Second))
	claim(b, "B", ids[1], t0.Add(62*time.Second), true)
	if _, err := a.ClaimOutbound(ctx, 999999, "A", t0, t0, 0); err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
}

// A group's SQLite file copied into PostgreSQL: every table with the same
// rows, the aggregates as SQLite's triggers kept them, the search index
// rebuilt, ids going on after the largest copied, and a second copy into
// the same database refused.
func TestCopyToPostgres(t *testing.T) {
	if _, ok := pgtest.URL(t); !ok {
		return
	}
	ctx := context.Background()
	lite := boardStore(t) // SQLite: not inside a postgres subtest
	seedBoard(t, lite, 600)
	tx(t, lite, func(tx *store.Tx) error {
		if _, err := tx.Secret("export_salt"); err != nil {
			return err
		}
		_, err := tx.RecordSMS(store.SMSRecord{Hash: "h1", Received: t0, Via: "http", Kind: "debit", Body: "debited"})
		return err
	})
	pg, err := store.Open(ctx, pgtest.Fresh(t, t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	copied, err := lite.CopyTo(ctx, pg, nil)
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]int64{}
	for _, c := range copied {
		rows[c.Name] = c.Rows
	}
	for _, table := range []string{"cards", "card_events", "contacts", "outbox", "inbound", "stock_ledger", "stage_counts", "move_tally", "stock_levels", "secrets", "sms_received", "card_search"} {
		var want int64
		q := `SELECT count(*) FROM ` + table
		if err := lite.DB().QueryRow(q).Scan(&want); err != nil {
			t.Fatal(err)
		}
		var got int64
		if err := pg.DB().QueryRow(q).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want || rows[table] != want || want == 0 {
			t.Errorf("%s: %d rows in SQLite, %d in PostgreSQL, %d reported", table, want, got, rows[table])
		}
	}
	read := func(st *store.Store) (board []store.StageStat, found []*store.Card, moves []store.StageMove) {
		tx(t, st, func(tx *store.Tx) error {
			var err error
			if board, err = tx.Board(nil); err != nil {
				return err
			}
			if found, err = tx.FindCards("Person 15", 50); err != nil {
				return err
			}
			moves, err = tx.MovesBetween("R", boardNow.Add(-400*24*time.Hour), boardNow)
			return err
		})
		return
	}
	lb, lf, lm := read(lite)
	pb, pf, pm := read(pg)
	if fmt.Sprint(lb) != fmt.Sprint(pb) || fmt.Sprint(lm) != fmt.Sprint(pm) {
		t.Errorf("the board differs after the copy:\nSQLite %v\n%v\nPostgreSQL %v\n%v", lb, lm, pb, pm)
	}
	if len(lf) == 0 || len(lf) != len(pf) || lf[0].ID != pf[0].ID {
		t.Errorf("/find differs: %d cards in SQLite, %d in PostgreSQL", len(lf), len(pf))
	}
	// New rows get new ids, after the copied ones.
	var maxID, id int64
	pg.DB().QueryRow(`SELECT max(id) FROM outbox`).Scan(&maxID)
	tx(t, pg, func(tx *store.Tx) error {
		var err error
		id, err = tx.Enqueue("tg", "u1", `{"text":"after the copy"}`, boardNow)
		return err
	})
	if id != maxID+1 {
		t.Errorf("new outbox id %d, want %d", id, maxID+1)
	}
	if _, err := lite.CopyTo(ctx, pg, nil); !errors.Is(err, store.ErrNotEmpty) {
		t.Errorf("a second copy: %v, want ErrNotEmpty", err)
	}
}

// BenchmarkStatusPostgres is BenchmarkStatus on PostgreSQL (the server
// named by SEWA_TEST_POSTGRES), for the README's figures beside SQLite's:
//
//	go test ./store/ -run '^$' -bench 'Status' -status.cards=20000
func BenchmarkStatusPostgres(b *testing.B) {
	if _, ok := pgtest.URL(b); !ok {
		return
	}
	b.Setenv(backendEnv, "postgres")
	BenchmarkStatus(b)
}

// Numbers kept as text are summed as SQLite reads them on both databases:
// the longest leading number, 0 for none, rounded to hundredths half away
// from zero.
func TestSumOfTextNumbers(t *testing.T) { eachBackend(t, testSumOfTextNumbers) }

func testSumOfTextNumbers(t *testing.T) {
	st := open(t, filepath.Join(t.TempDir(), "sewa.db"))
	amounts := []string{"1100.00", "12.5kg", "abc", "", " 7", "-2.345", "1e2", ".5", "0.125", "1,100.00"}
	want := []int64{110000, 1250, 0, 0, 700, -235, 10000, 50, 13, 100}
	for i, a := range amounts {
		c := &store.Card{Flow: "donation", Stage: "identify", Fields: map[string]string{"amount": a}, Created: t0, Updated: t0, StageEntered: t0}
		tx(t, st, func(tx *store.Tx) error { return tx.NewCard("D", c) })
		tx(t, st, func(tx *store.Tx) error {
			s, err := tx.SumCreated("donation", "amount", t0, t0.Add(time.Second))
			if err != nil {
				return err
			}
			var sum int64
			for _, w := range want[:i+1] {
				sum += w
			}
			if s.N != i+1 || s.Hundredths != sum {
				return fmt.Errorf("after %q: %+v, want %d cards, %d hundredths", a, s, i+1, sum)
			}
			return nil
		})
	}
}

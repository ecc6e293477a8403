package store_test

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"sewa/store"
)

// statusCards is the board size of BenchmarkStatus:
//
//	go test ./store/ -run '^$' -bench Status -status.cards=1000000
var statusCards = flag.Int("status.cards", 20000, "cards seeded by BenchmarkStatus")

var boardNow = time.Date(2026, 4, 2, 10, 0, 0, 0, time.UTC)

func boardStore(t testing.TB) *store.Store {
	t.Helper()
	return open(t, filepath.Join(t.TempDir(), "board.db"))
}

// boardCard inserts a card of flow with prefix into stage, entered at entered.
func boardCard(t testing.TB, st *store.Store, prefix, flow, stage string, entered time.Time, fields map[string]string) *store.Card {
	t.Helper()
	c := &store.Card{Flow: flow, Stage: stage, Fields: fields, Created: entered, Updated: entered, StageEntered: entered}
	tx(t, st, func(tx *store.Tx) error { return tx.NewCard(prefix, c) })
	return c
}

func boardSave(t testing.TB, st *store.Store, c *store.Card) {
	t.Helper()
	tx(t, st, func(tx *store.Tx) error { return tx.SaveCard(c) })
}

// truth counts open cards per stage by scanning, to check the aggregate.
func truth(t *testing.T, st *store.Store) map[[2]string][2]int {
	t.Helper()
	rows, err := st.DB().Query(`SELECT flow, stage, count(*), count(assignee) FROM cards WHERE open = 1 GROUP BY flow, stage`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[[2]string][2]int{}
	for rows.Next() {
		var f, s string
		var n, held int
		if err := rows.Scan(&f, &s, &n, &held); err != nil {
			t.Fatal(err)
		}
		out[[2]string{f, s}] = [2]int{n, held}
	}
	return out
}

func boardCounts(t *testing.T, st *store.Store) map[[2]string][2]int {
	t.Helper()
	var stats []store.StageStat
	tx(t, st, func(tx *store.Tx) error {
		var err error
		stats, err = tx.Board(nil)
		return err
	})
	out := map[[2]string][2]int{}
	for _, s := range stats {
		out[[2]string{s.Flow, s.Stage}] = [2]int{s.Open, s.Held}
	}
	return out
}

// The stage counts the triggers keep equal a scan of the cards after any
// mix of inserts, moves, holds, releases, closes and rolled-back changes.
func TestStageCountsFollowCards(t *testing.T) { eachBackend(t, testStageCountsFollowCards) }

func testStageCountsFollowCards(t *testing.T) {
	st := boardStore(t)
	worker := &store.Contact{Channel: "console", Address: "ravi", Name: "Ravi", Roles: []string{"caller"}, Created: boardNow, LastSeen: boardNow}
	tx(t, st, func(tx *store.Tx) error { return tx.SaveContact(worker) })
	stages := []string{"validate", "allocate", "dispatch"}
	rng := rand.New(rand.NewPCG(1, 2))
	var cards []*store.Card
	for i := range 400 {
		switch op := rng.IntN(6); {
		case op == 0 || len(cards) == 0:
			cards = append(cards, boardCard(t, st, "R", "request", stages[rng.IntN(3)], boardNow, nil))
		case op == 1:
			c := cards[rng.IntN(len(cards))]
			c.Stage = stages[rng.IntN(3)]
			c.Assignee = 0
			boardSave(t, st, c)
		case op == 2:
			c := cards[rng.IntN(len(cards))]
			c.Assignee = worker.ID
			boardSave(t, st, c)
		case op == 3:
			c := cards[rng.IntN(len(cards))]
			c.Open = !c.Open
			boardSave(t, st, c)
		case op == 4:
			c := cards[rng.IntN(len(cards))]
			c.Fields = map[string]string{"note": fmt.Sprint(i)} // no count change
			boardSave(t, st, c)
		default: // a change rolled back leaves the counts as they were
			c := *cards[rng.IntN(len(cards))]
			c.Stage, c.Open = "deliver", true
			st.Tx(context.Background(), func(tx *store.Tx) error {
				if err := tx.SaveCard(&c); err != nil {
					return err
				}
				return fmt.Errorf("roll back")
			})
		}
	}
	got, want := boardCounts(t, st), truth(t, st)
	for k, v := range got {
		if v != want[k] {
			t.Errorf("%v: counted %v, cards say %v", k, v, want[k])
		}
	}
	for k, v := range want {
		if _, ok := got[k]; !ok {
			t.Errorf("%v: not counted, cards say %v", k, v)
		}
	}
}

func TestBoardOldestAndStale(t *testing.T) { eachBackend(t, testBoardOldestAndStale) }

func testBoardOldestAndStale(t *testing.T) {
	st := boardStore(t)
	for _, h := range []int{50, 30, 2} {
		boardCard(t, st, "R", "request", "validate", boardNow.Add(-time.Duration(h)*time.Hour), nil)
	}
	boardCard(t, st, "R", "request", "dispatch", boardNow.Add(-time.Hour), nil)
	gone := boardCard(t, st, "O", "outreach", "retired", boardNow.Add(-time.Hour), nil) // a stage no flow names any more
	var stats []store.StageStat
	tx(t, st, func(tx *store.Tx) error {
		var err error
		stats, err = tx.Board([]store.StageQuery{
			{Flow: "request", Stage: "validate", StaleBefore: boardNow.Add(-24 * time.Hour)},
			{Flow: "request", Stage: "allocate", StaleBefore: boardNow.Add(-48 * time.Hour)},
			{Flow: "request", Stage: "dispatch"},
		})
		return err
	})
	want := []store.StageStat{
		{Flow: "request", Stage: "validate", Open: 3, Stale: 2, Oldest: boardNow.Add(-50 * time.Hour), OldestCard: "R-1"},
		{Flow: "request", Stage: "allocate"},
		{Flow: "request", Stage: "dispatch", Open: 1, Oldest: boardNow.Add(-time.Hour), OldestCard: "R-4"},
		{Flow: "outreach", Stage: "retired", Open: 1, Oldest: boardNow.Add(-time.Hour), OldestCard: gone.ID},
	}
	if !slices.EqualFunc(stats, want, func(a, b store.StageStat) bool { return a == b || (a.Oldest.Equal(b.Oldest) && eqButOldest(a, b)) }) {
		t.Fatalf("board\n got %+v\nwant %+v", stats, want)
	}
}

func eqButOldest(a, b store.StageStat) bool {
	a.Oldest, b.Oldest = time.Time{}, time.Time{}
	return a == b
}

// StaleCards returns what still needs a reminder; a recorded reminder is
// never recorded twice; a card entering its stage again starts afresh.
func TestStaleCardsAndReminders(t *testing.T) { eachBackend(t, testStaleCardsAndReminders) }

func testStaleCardsAndReminders(t *testing.T) {
	st := boardStore(t)
	ravi := &store.Contact{Channel: "console", Address: "ravi", Name: "Ravi", Roles: []string{"caller"}, Created: boardNow, LastSeen: boardNow}
	tx(t, st, func(tx *store.Tx) error { return tx.SaveContact(ravi) })
	held := boardCard(t, st, "R", "request", "validate", boardNow.Add(-30*time.Hour), nil)
	held.Assignee = ravi.ID
	boardSave(t, st, held)
	free := boardCard(t, st, "R", "request", "validate", boardNow.Add(-26*time.Hour), nil)
	boardCard(t, st, "R", "request", "validate", boardNow.Add(-2*time.Hour), nil) // not stale

	staleBefore, escalateBefore := boardNow.Add(-24*time.Hour), boardNow.Add(-48*time.Hour)
	ids := func() []string {
		var out []string
		tx(t, st, func(tx *store.Tx) error {
			cards, err := tx.StaleCards("request", "validate", staleBefore, escalateBefore, 10)
			for _, c := range cards {
				out = append(out, fmt.Sprintf("%s:%v", c.ID, c.HolderReminded))
			}
			return err
		})
		return out
	}
	record := func(c *store.Card, level string) bool {
		var fresh bool
		tx(t, st, func(tx *store.Tx) error {
			var err error
			fresh, err = tx.RecordReminder(store.Reminder{Card: c.ID, StageEntered: c.StageEntered, Level: level, Stage: c.Stage, SentAt: boardNow})
			return err
		})
		return fresh
	}
	if got := ids(); !slices.Equal(got, []string{"R-1:false", "R-2:false"}) {
		t.Fatalf("stale = %v", got)
	}
	if !record(held, store.RemindHolder) || record(held, store.RemindHolder) {
		t.Fatal("the holder reminder was not recorded exactly once")
	}
	if !record(free, store.RemindCoordinators) || record(free, store.RemindCoordinators) {
		t.Fatal("the escalation was not recorded exactly once")
	}
	if got := ids(); len(got) != 0 {
		t.Fatalf("after the reminders, still due: %v", got)
	}
	escalateBefore = boardNow.Add(-29 * time.Hour) // the held card's second period is over
	if got := ids(); !slices.Equal(got, []string{"R-1:true"}) {
		t.Fatalf("escalation due = %v", got)
	}
	free.StageEntered = boardNow.Add(-25 * time.Hour) // it left and came back: a new stage entry
	boardSave(t, st, free)
	if got := ids(); !slices.Equal(got, []string{"R-1:true", "R-2:false"}) {
		t.Fatalf("after re-entry = %v", got)
	}
	var n int
	tx(t, st, func(tx *store.Tx) error {
		rs, err := tx.Reminders(held.ID)
		n = len(rs)
		return err
	})
	if n != 1 {
		t.Fatalf("reminders of %s = %d", held.ID, n)
	}
}

func TestStockLevelsMatchLedger(t *testing.T) { eachBackend(t, testStockLevelsMatchLedger) }

func testStockLevelsMatchLedger(t *testing.T) {
	st := boardStore(t)
	entries := []store.StockEntry{
		{Item: "kit", Kind: store.StockReceived, Qty: 50},
		{Item: "kit", Kind: store.StockReserved, Qty: 4, Card: "R-1"},
		{Item: "kit", Kind: store.StockDelivered, Qty: 3, Card: "R-1"},
		{Item: "kit", Kind: store.StockReleased, Qty: 1, Card: "R-1"},
		{Item: "kit", Location: "okhla", Kind: store.StockReceived, Qty: 10},
		{Item: "kit", Location: "okhla", Kind: store.StockAdjusted, Qty: -2},
		{Item: "rice", Kind: store.StockReceived, Qty: 7},
	}
	var levels, sums []store.StockLevel
	tx(t, st, func(tx *store.Tx) error {
		for _, e := range entries {
			e.At = boardNow
			if err := tx.AddStock(e); err != nil {
				return err
			}
		}
		var err error
		levels, err = tx.StockLevels()
		return err
	})
	sums = ledgerSums(t, st)
	if !slices.Equal(levels, sums) || len(levels) != 3 {
		t.Fatalf("levels %+v, ledger sums %+v", levels, sums)
	}
	if levels[0] != (store.StockLevel{Item: "kit", OnHand: 47, Reserved: 0}) {
		t.Fatalf("kit = %+v", levels[0])
	}
}

func TestFindCards(t *testing.T) { eachBackend(t, testFindCards) }

func testFindCards(t *testing.T) {
	st := boardStore(t)
	boardCard(t, st, "R", "request", "validate", boardNow, map[string]string{"name": "Asha Devi", "phone": "9812345678",
		"address": "B-12 Sanjay Colony, near Okhla metro", "families": "1"})
	boardCard(t, st, "R", "request", "validate", boardNow, map[string]string{"name": "राम कुमार", "phone": "9898989898", "address": "ओखला फेज़ 2"})
	d := boardCard(t, st, "D", "donation", "identify", boardNow, map[string]string{"amount": "1100.00", "ref": "407312200456", "counterparty": "RAHUL K"})
	boardCard(t, st, "V", "volunteer", "review", boardNow, map[string]string{"name": "Meena", "area": "Sanjay Colony"})
	for i := range 15 {
		boardCard(t, st, "R", "request", "validate", boardNow, map[string]string{"name": fmt.Sprintf("Family %d", i), "address": "Madanpur Khadar"})
	}
	cases := []struct {
		q    string
		want []string
	}{
		{"sanjay colony", []string{"V-1", "R-1"}},
		{"45678", []string{"R-1"}},
		{"कुमार", []string{"R-2"}},
		{"2200456", []string{"D-1"}},
		{"rahul", []string{"D-1"}},
		{"1100", nil}, // the amount is not searched
		{"1", nil},    // too short to search
		{`"x" OR name`, nil},
		{"madanpur", []string{"R-17", "R-16", "R-15", "R-14", "R-13"}},
	}
	for _, c := range cases {
		var got []string
		tx(t, st, func(tx *store.Tx) error {
			cards, err := tx.FindCards(c.q, 5)
			for _, card := range cards {
				got = append(got, card.ID)
			}
			return err
		})
		if !slices.Equal(got, c.want) {
			t.Errorf("find %q = %v, want %v", c.q, got, c.want)
		}
	}
	// Changed fields are found by their new values only; a change to a
	// field that is not searched leaves the card found as before.
	d.Fields["counterparty"] = "SUNITA S"
	boardSave(t, st, d)
	d.Fields["who"] = "known"
	boardSave(t, st, d)
	tx(t, st, func(tx *store.Tx) error {
		a, err := tx.FindCards("rahul", 5)
		if err != nil {
			return err
		}
		b, err := tx.FindCards("sunita", 5)
		if len(a) != 0 || len(b) != 1 {
			t.Errorf("after the change: rahul %d, sunita %d", len(a), len(b))
		}
		return err
	})
}

// The day's numbers: cards created, moves, and sums of fields, each in its
// period only.
func TestDayNumbers(t *testing.T) { eachBackend(t, testDayNumbers) }

func testDayNumbers(t *testing.T) {
	st := boardStore(t)
	day := boardNow.Truncate(24 * time.Hour)
	yesterday := day.Add(-24 * time.Hour)
	r1 := boardCard(t, st, "R", "request", "validate", yesterday.Add(time.Hour), nil)
	r2 := boardCard(t, st, "R", "request", "validate", day.Add(time.Hour), map[string]string{"kits_given": "3"})
	boardCard(t, st, "D", "donation", "identify", day.Add(2*time.Hour), map[string]string{"amount": "1100.00"})
	boardCard(t, st, "D", "donation", "identify", day.Add(3*time.Hour), map[string]string{"amount": "1100.50"})
	boardCard(t, st, "D", "donation", "identify", yesterday.Add(3*time.Hour), map[string]string{"amount": "5000.00"})
	events := []store.Event{
		{Card: r1.ID, At: yesterday.Add(time.Hour), Actor: "console:asha asha", To: "validate", What: "created"},
		{Card: r1.ID, At: yesterday.Add(2 * time.Hour), Actor: "console:ravi Ravi", From: "validate", To: "rejected"},
		{Card: r2.ID, At: day.Add(time.Hour), Actor: "console:b b", To: "validate", What: "created"},
		{Card: r2.ID, At: day.Add(2 * time.Hour), Actor: "console:ravi Ravi", From: "validate", To: "validate", What: "unreachable"},
		{Card: r2.ID, At: day.Add(3 * time.Hour), Actor: "console:ravi Ravi", From: "validate", To: "allocate"},
		{Card: r2.ID, At: day.Add(4 * time.Hour), Actor: "console:meena Meena", From: "deliver", To: "delivered"},
	}
	workers := []*store.Contact{
		{Channel: "console", Address: "ravi", Name: "Ravi", Roles: []string{"caller"}, LastSeen: day.Add(5 * time.Hour)},
		{Channel: "console", Address: "meena", Name: "Meena", Roles: []string{"logistics"}, LastSeen: day.Add(4 * time.Hour)},
		{Channel: "console", Address: "sunil", Name: "Sunil", Roles: []string{"outreach"}, LastSeen: yesterday.Add(time.Hour)},
		{Channel: "console", Address: "asha", Name: "asha", LastSeen: day.Add(time.Hour)},
	}
	tx(t, st, func(tx *store.Tx) error {
		for _, e := range events {
			if err := tx.AddEvent(e); err != nil {
				return err
			}
		}
		for _, w := range workers {
			if err := tx.SaveContact(w); err != nil {
				return err
			}
		}
		return nil
	})
	next := day.Add(24 * time.Hour)
	tx(t, st, func(tx *store.Tx) error {
		n, err := tx.CreatedBetween("request", day, next)
		if err != nil || n != 1 {
			t.Errorf("requests today = %d, %v", n, err)
		}
		moves, err := tx.MovesBetween("R", day, next)
		want := []store.StageMove{{From: "", To: "validate", N: 1, Kits: 300}, {From: "deliver", To: "delivered", N: 1, Kits: 300},
			{From: "validate", To: "allocate", N: 1, Kits: 300}}
		if err != nil || !slices.Equal(moves, want) {
			t.Errorf("moves today = %v, %v", moves, err)
		}
		money, err := tx.SumCreated("donation", "amount", day, next)
		if err != nil || money != (store.FieldSum{N: 2, Hundredths: 220050}) {
			t.Errorf("donations today = %+v, %v", money, err)
		}
		money, err = tx.SumCreated("donation", "amount", yesterday, day)
		if err != nil || money != (store.FieldSum{N: 1, Hundredths: 500000}) {
			t.Errorf("donations yesterday = %+v, %v", money, err)
		}
		for _, c := range []struct {
			from, to time.Time
			acted    bool
			want     []string
		}{
			{day, next, false, []string{"Ravi", "Meena"}},
			{day, next, true, []string{"Ravi", "Meena"}},
			{yesterday, day, false, []string{"Sunil"}},
			// Ravi and Meena were last seen today, but Ravi acted yesterday.
			{yesterday, day, true, []string{"Ravi", "Sunil"}},
		} {
			active, err := tx.SeenWorkers(c.from, c.to)
			if c.acted {
				active, err = tx.ActiveWorkers(c.from, c.to)
			}
			var names []string
			for _, a := range active {
				names = append(names, a.Name)
			}
			if err != nil || !slices.Equal(names, c.want) {
				t.Errorf("active %s (acted %v) = %v, %v; want %v", c.from.Format(time.DateOnly), c.acted, names, err, c.want)
			}
		}
		return nil
	})
}

func TestHeldByAbsentDigestOnceAndChannelActivity(t *testing.T) {
	eachBackend(t, testHeldByAbsentDigestOnceAndChannelActivity)
}

func testHeldByAbsentDigestOnceAndChannelActivity(t *testing.T) {
	st := boardStore(t)
	sunil := &store.Contact{Channel: "console", Address: "sunil", Name: "Sunil", Roles: []string{"caller"}, LastSeen: boardNow.Add(-50 * time.Hour)}
	ravi := &store.Contact{Channel: "console", Address: "ravi", Name: "Ravi", Roles: []string{"caller"}, LastSeen: boardNow}
	tx(t, st, func(tx *store.Tx) error {
		if err := tx.SaveContact(sunil); err != nil {
			return err
		}
		return tx.SaveContact(ravi)
	})
	for i, who := range []*store.Contact{sunil, sunil, ravi} {
		c := boardCard(t, st, "R", "request", "validate", boardNow.Add(-time.Duration(10-i)*time.Hour), nil)
		c.Assignee = who.ID
		boardSave(t, st, c)
	}
	tx(t, st, func(tx *store.Tx) error {
		held, err := tx.HeldByAbsent(boardNow.Add(-24 * time.Hour))
		if err != nil || len(held) != 1 || held[0].Contact.Name != "Sunil" || !slices.Equal(held[0].Cards, []string{"R-1", "R-2"}) {
			t.Errorf("held by absent = %+v, %v", held, err)
		}
		for i, want := range []bool{true, false} {
			fresh, err := tx.MarkDigest("2026-04-02", boardNow)
			if err != nil || fresh != want {
				t.Errorf("digest mark %d = %v, %v", i, fresh, err)
			}
		}
		if _, err := tx.MarkInbound("tg", "1", boardNow.Add(-time.Minute)); err != nil {
			return err
		}
		if _, err := tx.MarkInbound("tg", "2", boardNow.Add(-2*time.Minute)); err != nil {
			return err
		}
		for i := range 3 {
			if _, err := tx.Enqueue("tg", "1", "{}", boardNow.Add(-time.Duration(i)*30*time.Hour)); err != nil {
				return err
			}
		}
		return nil
	})
	ctx := context.Background()
	st.MarkFailed(ctx, 1, "x")
	st.MarkFailed(ctx, 2, "y") // created 30h ago: not in the last day
	tx(t, st, func(tx *store.Tx) error {
		s, err := tx.ChannelActivity("tg", boardNow.Add(-24*time.Hour))
		if err != nil || !s.LastIn.Equal(boardNow.Add(-time.Minute)) || s.Pending != 1 || s.Failed != 1 {
			t.Errorf("tg activity = %+v, %v", s, err)
		}
		s, err = tx.ChannelActivity("wa", boardNow.Add(-24*time.Hour))
		if err != nil || !s.LastIn.IsZero() || s.Pending != 0 {
			t.Errorf("wa activity = %+v, %v", s, err)
		}
		return nil
	})
}

// Migration 0003 fills its aggregates from the rows a database already has
// exactly as its triggers keep them from then on.
func TestMigrationFillsAggregatesFromExistingRows(t *testing.T) {
	eachBackend(t, testMigrationFillsAggregatesFromExistingRows)
}

func testMigrationFillsAggregatesFromExistingRows(t *testing.T) {
	st := boardStore(t)
	seedBoard(t, st, 3000)
	ravi := &store.Contact{Channel: "console", Address: "ravi", Name: "Ravi", Roles: []string{"caller"}, LastSeen: boardNow}
	tx(t, st, func(tx *store.Tx) error { return tx.SaveContact(ravi) })
	c := boardCard(t, st, "R", "request", "validate", boardNow, map[string]string{"name": "Asha Devi", "kits_given": "2"})
	c.Stage, c.Assignee = "dispatch", ravi.ID
	boardSave(t, st, c)
	tx(t, st, func(tx *store.Tx) error {
		return tx.AddEvent(store.Event{Card: c.ID, At: boardNow, Actor: "system", From: "validate", To: "dispatch"})
	})
	tables := map[string]string{
		"stage_counts": `SELECT flow, stage, n_open, n_held FROM stage_counts WHERE n_open > 0 ORDER BY 1, 2`,
		"move_tally":   `SELECT prefix, bucket, from_stage, to_stage, n, kits FROM move_tally ORDER BY 1, 2, 3, 4`,
		"stock_levels": `SELECT item, location, on_hand, reserved FROM stock_levels ORDER BY 1, 2`,
		"card_search":  `SELECT rowid, card_id, coalesce(body, '') FROM card_search ORDER BY rowid`,
	}
	dump := func(q string) string {
		rows, err := st.DB().Query(q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var b strings.Builder
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(&b, vals...)
		}
		return b.String()
	}
	kept := map[string]string{}
	for name, q := range tables {
		kept[name] = dump(q)
		if kept[name] == "" {
			t.Fatalf("%s is empty", name)
		}
		if _, err := st.DB().Exec(`DELETE FROM ` + name); err != nil {
			t.Fatal(err)
		}
	}
	body, err := os.ReadFile(filepath.Join("migrations", "0003_reminders."+dialectOf(st)+".sql"))
	if err != nil {
		t.Fatal(err)
	}
	fills := regexp.MustCompile(`(?ms)^INSERT INTO .*?;\s*$`).FindAllString(string(body), -1)
	if len(fills) != len(tables) {
		t.Fatalf("%d filling statements in the migration, want %d", len(fills), len(tables))
	}
	for _, q := range fills {
		if _, err := st.DB().Exec(q); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
	for name, q := range tables {
		if got := dump(q); got != kept[name] {
			t.Errorf("%s filled by the migration differs from the triggers' (%d vs %d bytes)", name, len(got), len(kept[name]))
		}
	}
}

// BenchmarkStatus measures the reads /status makes (bot/board_status.go:
// the board, the day's numbers, stock, channel health) in one transaction,
// on a board of -status.cards cards: a year of work where 2% of the cards
// are open, with their events, requesters, outbox rows, inbound ids and
// stock ledger. "FindCards" measures a /find by phone on the same board,
// "StaleScan" one run of the stale-card check, "CardWrite" a new card and a
// move with the triggers that keep the board's aggregates.
func BenchmarkStatus(b *testing.B) {
	n := *statusCards
	st := boardStore(b)
	start := time.Now()
	seedBoard(b, st, n)
	b.Logf("seeded %d cards in %s", n, time.Since(start).Round(time.Millisecond))
	now := boardNow
	day := now.Truncate(24 * time.Hour)
	next := day.Add(24 * time.Hour)
	qs := []store.StageQuery{
		{Flow: "request", Stage: "validate", StaleBefore: now.Add(-24 * time.Hour)},
		{Flow: "request", Stage: "allocate", StaleBefore: now.Add(-48 * time.Hour)},
		{Flow: "request", Stage: "dispatch", StaleBefore: now.Add(-24 * time.Hour)},
		{Flow: "request", Stage: "deliver", StaleBefore: now.Add(-24 * time.Hour)},
		{Flow: "donation", Stage: "identify", StaleBefore: now.Add(-72 * time.Hour)},
		{Flow: "donation", Stage: "collect", StaleBefore: now.Add(-7 * 24 * time.Hour)},
		{Flow: "donation", Stage: "ready", StaleBefore: now.Add(-48 * time.Hour)},
		{Flow: "volunteer", Stage: "review", StaleBefore: now.Add(-48 * time.Hour)},
		{Flow: "outreach", Stage: "draft", StaleBefore: now.Add(-48 * time.Hour)},
		{Flow: "outreach", Stage: "post", StaleBefore: now.Add(-48 * time.Hour)},
	}
	ctx := context.Background()
	b.Run("Status", func(b *testing.B) {
		for b.Loop() {
			err := st.Tx(ctx, func(tx *store.Tx) error {
				stats, err := tx.Board(qs)
				if err != nil || len(stats) < len(qs) {
					return fmt.Errorf("board: %d stages, %w", len(stats), err)
				}
				if _, err := tx.CreatedBetween("request", day, next); err != nil {
					return err
				}
				if _, err := tx.MovesBetween("R", day, next); err != nil {
					return err
				}
				if _, err := tx.SumCreated("donation", "amount", day, next); err != nil {
					return err
				}
				if _, err := tx.SeenWorkers(day, next); err != nil {
					return err
				}
				if _, err := tx.StockLevels(); err != nil {
					return err
				}
				for _, ch := range []string{"console", "tg", "wa"} {
					if _, err := tx.ChannelActivity(ch, now.Add(-24*time.Hour)); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("StaleScan", func(b *testing.B) {
		// The reminder job's steady state: every stale card already
		// reminded and escalated, so each run reads and skips them all.
		if _, err := st.DB().Exec(`INSERT INTO reminders (card_id, stage_entered_at, level, stage, sent_at)
			SELECT id, stage_entered_at, 'coordinators', stage, ? FROM cards WHERE open = 1`, now.UnixMilli()); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			err := st.Tx(ctx, func(tx *store.Tx) error {
				for _, q := range qs {
					if _, err := tx.StaleCards(q.Flow, q.Stage, q.StaleBefore, q.StaleBefore.Add(-24*time.Hour), 200); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("CardWrite", func(b *testing.B) {
		// What the triggers add to a message's writes: a new card, its
		// event, a move and its event.
		for b.Loop() {
			err := st.Tx(ctx, func(tx *store.Tx) error {
				c := &store.Card{Flow: "request", Stage: "validate", Fields: map[string]string{"name": "Asha Devi", "phone": "9812345678",
					"address": "B-12 Sanjay Colony"}, Created: now, Updated: now, StageEntered: now}
				if err := tx.NewCard("R", c); err != nil {
					return err
				}
				if err := tx.AddEvent(store.Event{Card: c.ID, At: now, Actor: "system", To: c.Stage}); err != nil {
					return err
				}
				c.Stage, c.Fields["kits"] = "allocate", "2"
				if err := tx.SaveCard(c); err != nil {
					return err
				}
				return tx.AddEvent(store.Event{Card: c.ID, At: now, Actor: "system", From: "validate", To: c.Stage})
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	phone := fmt.Sprintf("%08d", n/30*10+1) // a request's phone, without the 98
	b.Run("FindCards", func(b *testing.B) {
		for b.Loop() {
			err := st.Tx(ctx, func(tx *store.Tx) error {
				cards, err := tx.FindCards(phone, 11)
				if err == nil && len(cards) == 0 {
					err = fmt.Errorf("nothing found")
				}
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

// seedBoard writes n cards in SQL, a year of work ending at boardNow:
// request 70%, donation 20%, outreach 8%, volunteer 2%; one in 50 open, in
// a working stage, entered up to 4 days ago (so some are stale); the rest
// done. Each card has three events, one requester per two cards, two
// outbox rows and an inbound id; each delivered request two stock lines.
func seedBoard(b testing.TB, st *store.Store, n int) {
	b.Helper()
	if st.Postgres() {
		seedBoardPG(b, st, n)
		return
	}
	now := boardNow.UnixMilli()
	const year = int64(365 * 24 * time.Hour / time.Millisecond)
	const hour = int64(time.Hour / time.Millisecond)
	stmts := []string{
		`CREATE TEMP TABLE seq (value INTEGER PRIMARY KEY)`,
		`INSERT INTO seq WITH RECURSIVE s(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM s WHERE value < 2 * :n) SELECT value FROM s`,
		`INSERT INTO contacts (channel, address, name, phone, roles, created_at, last_seen)
			SELECT 'tg', 'u' || value, 'Person ' || value, '98' || printf('%08d', value), '', :now - :year, :now - (value % 1000) * 3600000
			FROM seq WHERE value <= :n / 2`,
		`INSERT INTO contacts (channel, address, name, roles, created_at, last_seen)
			SELECT 'tg', 'v' || value, 'Volunteer ' || value, CASE value % 4 WHEN 0 THEN 'caller' WHEN 1 THEN 'logistics' WHEN 2 THEN 'treasurer' ELSE 'outreach' END,
			:now - :year, :now - (value % 72) * 3600000 FROM seq WHERE value <= 200`,
		`INSERT INTO card_seq (prefix, last) VALUES ('R', :n), ('D', :n), ('O', :n), ('V', :n)`,
		`INSERT INTO cards (id, flow, stage, open, fields, requester, assignee, lease_until, priority, created_at, updated_at, stage_entered_at)
			SELECT p || '-' || value, f,
				CASE WHEN value % 50 = 0 THEN
					CASE f WHEN 'request' THEN CASE value % 4 WHEN 0 THEN 'validate' WHEN 1 THEN 'allocate' WHEN 2 THEN 'dispatch' ELSE 'deliver' END
					       WHEN 'donation' THEN CASE value % 3 WHEN 0 THEN 'identify' WHEN 1 THEN 'collect' ELSE 'ready' END
					       WHEN 'outreach' THEN CASE value % 2 WHEN 0 THEN 'draft' ELSE 'post' END
					       ELSE 'review' END
				ELSE CASE f WHEN 'request' THEN 'delivered' WHEN 'donation' THEN 'receipted' WHEN 'outreach' THEN 'posted' ELSE 'active' END END,
				value % 50 = 0,
				CASE f WHEN 'request' THEN json_object('name', 'Person ' || value, 'phone', '98' || printf('%08d', value),
						'address', 'House ' || value || ', Sanjay Colony ' || (value % 100), 'families', '1', 'kits_given', '1')
					WHEN 'donation' THEN json_object('amount', (value % 50 + 1) * 100 || '.00', 'ref', '4073' || printf('%08d', value), 'counterparty', 'PAYER ' || value)
					ELSE json_object('caption', 'post ' || value) END,
				CASE WHEN f = 'request' THEN (value - 1) / 2 + 1 END,
				CASE WHEN value % 100 = 0 THEN :n / 2 + 1 + (value / 100) % 200 END,
				NULL, 0,
				CASE WHEN value % 50 = 0 THEN :now - (value % 96) * :hour - :hour ELSE :now - :year + value * (:year / :n) END,
				:now,
				CASE WHEN value % 50 = 0 THEN :now - (value % 96) * :hour ELSE :now - :year + value * (:year / :n) + :hour END
			FROM (SELECT value, CASE WHEN value % 10 < 7 THEN 'request' WHEN value % 10 < 9 THEN 'donation' WHEN value % 50 = 49 THEN 'volunteer' ELSE 'outreach' END AS f,
				CASE WHEN value % 10 < 7 THEN 'R' WHEN value % 10 < 9 THEN 'D' WHEN value % 50 = 49 THEN 'V' ELSE 'O' END AS p
				FROM seq WHERE value <= :n)`,
		`INSERT INTO card_events (card_id, at, actor, from_stage, to_stage, what)
			SELECT id, created_at + k * 600000, CASE k WHEN 0 THEN 'tg:u1 Person' ELSE 'tg:v' || (k * 7 % 200 + 1) || ' Volunteer' END,
				CASE k WHEN 0 THEN '' ELSE 'x' || k END, CASE k WHEN 2 THEN stage ELSE 'x' || (k + 1) END, ''
			FROM cards, (SELECT 0 AS k UNION ALL SELECT 1 UNION ALL SELECT 2)`,
		`INSERT INTO inbound (channel, external_id, received_at) SELECT 'tg', value, :now - (:n - value) * 1000 FROM seq WHERE value <= :n`,
		`INSERT INTO outbox (channel, address, body, status, next_at, created_at, sent_at)
			SELECT 'tg', 'u' || value, '{"text":"hello"}', CASE WHEN value % 1000 = 0 THEN 'failed' WHEN value > 2 * :n - 20 THEN 'pending' ELSE 'sent' END,
				:now - (2 * :n - value) * 500, :now - (2 * :n - value) * 500, :now - (2 * :n - value) * 500
			FROM seq WHERE value <= 2 * :n`,
		`INSERT INTO stock_ledger (at, item, location, kind, qty, card_id)
			SELECT created_at, 'kit', '', 'received', 1, id FROM cards WHERE flow = 'request' AND stage = 'delivered'`,
		`INSERT INTO stock_ledger (at, item, location, kind, qty, card_id)
			SELECT created_at, 'kit', '', 'delivered', 1, id FROM cards WHERE flow = 'request' AND stage = 'delivered'`,
	}
	ctx := context.Background()
	conn, err := st.DB().Conn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	for _, q := range stmts {
		var args []any
		for name, v := range map[string]int64{"now": now, "year": year, "hour": hour, "n": int64(n)} {
			if strings.Contains(q, ":"+name) {
				args = append(args, sql.Named(name, v))
			}
		}
		if _, err := conn.ExecContext(ctx, q, args...); err != nil {
			b.Fatalf("seed: %v\n%s", err, q)
		}
	}
	if _, err := conn.ExecContext(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
}

package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"sewa/store"
)

var stockAt = time.Date(2026, 4, 2, 10, 0, 0, 0, time.UTC)

// ledgerSums sums the stock ledger per item and location, ordered as
// StockLevels: what the stock_levels aggregate must always agree with.
func ledgerSums(t testing.TB, st *store.Store) []store.StockLevel {
	t.Helper()
	rows, err := st.DB().QueryContext(context.Background(), `SELECT item, location,
		coalesce(sum(CASE WHEN kind IN ('received', 'adjusted') THEN qty WHEN kind = 'delivered' THEN -qty ELSE 0 END), 0),
		coalesce(sum(CASE WHEN kind = 'reserved' THEN qty WHEN kind IN ('released', 'delivered') THEN -qty ELSE 0 END), 0)
		FROM stock_ledger GROUP BY item, location ORDER BY item, location`)
	if err != nil {
		t.Fatalf("ledger sums: %v", err)
	}
	defer rows.Close()
	var out []store.StockLevel
	for rows.Next() {
		var l store.StockLevel
		if err := rows.Scan(&l.Item, &l.Location, &l.OnHand, &l.Reserved); err != nil {
			t.Fatalf("ledger sums: %v", err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("ledger sums: %v", err)
	}
	return out
}

func level(t *testing.T, st *store.Store, item, location string) store.StockLevel {
	t.Helper()
	var got store.StockLevel
	tx(t, st, func(tx *store.Tx) error {
		levels, err := tx.StockLevels()
		for _, l := range levels {
			if l.Item == item && l.Location == location {
				got = l
			}
		}
		return err
	})
	return got
}

// Many transactions reserve against one stock at once, on a real file:
// exactly as many reservations succeed as there are kits, and reserved
// never exceeds on hand.
func TestReserveStockConcurrentNeverOverReserves(t *testing.T) {
	eachBackend(t, testReserveStockConcurrentNeverOverReserves)
}

func testReserveStockConcurrentNeverOverReserves(t *testing.T) {
	for _, c := range []struct {
		name            string
		stock, per, ask int
	}{
		{"one each", 10, 1, 50},
		{"three each", 10, 3, 40},
		{"more than there is", 5, 6, 20},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := open(t, filepath.Join(t.TempDir(), "sewa.db"))
			tx(t, st, func(tx *store.Tx) error {
				return tx.AddStock(store.StockEntry{At: stockAt, Item: "kit", Location: "Okhla", Kind: store.StockReceived, Qty: c.stock, Actor: "test"})
			})
			var wg sync.WaitGroup
			var mu sync.Mutex
			won := 0
			for i := range c.ask {
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := st.Tx(context.Background(), func(tx *store.Tx) error {
						ok, err := tx.ReserveStock(store.StockEntry{At: stockAt, Item: "kit", Location: "Okhla", Qty: c.per,
							Card: fmt.Sprintf("R-%d", i+1), Actor: "system"})
						if ok {
							mu.Lock()
							won++
							mu.Unlock()
						}
						return err
					})
					if err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if want := c.stock / c.per; won != want {
				t.Errorf("%d reservations succeeded, want %d", won, want)
			}
			l := level(t, st, "kit", "Okhla")
			if l.Reserved != won*c.per || l.Reserved > l.OnHand || l.OnHand != c.stock {
				t.Errorf("level %+v after %d reservations of %d", l, won, c.per)
			}
		})
	}
}

// A card holds stock once: a second reservation for it is refused until
// what it holds is released or delivered.
func TestReserveStockOncePerCard(t *testing.T) { eachBackend(t, testReserveStockOncePerCard) }

func testReserveStockOncePerCard(t *testing.T) {
	st := open(t, filepath.Join(t.TempDir(), "sewa.db"))
	tx(t, st, func(tx *store.Tx) error {
		if err := tx.AddStock(store.StockEntry{At: stockAt, Item: "kit", Location: "Okhla", Kind: store.StockReceived, Qty: 10}); err != nil {
			return err
		}
		res := store.StockEntry{At: stockAt, Item: "kit", Location: "Okhla", Qty: 2, Card: "R-1"}
		for i, want := range []bool{true, false} {
			ok, err := tx.ReserveStock(res)
			if err != nil || ok != want {
				t.Errorf("reservation %d: %v, %v; want %v", i+1, ok, err, want)
			}
		}
		held, err := tx.StockHeld("R-1")
		if err != nil || len(held) != 1 || held[0].Qty != 2 {
			t.Errorf("held = %+v, %v", held, err)
		}
		// Handing over one and releasing the other frees the card.
		for _, e := range []store.StockEntry{
			{At: stockAt, Item: "kit", Location: "Okhla", Kind: store.StockDelivered, Qty: 1, Card: "R-1"},
			{At: stockAt, Item: "kit", Location: "Okhla", Kind: store.StockReleased, Qty: 1, Card: "R-1", Note: "only one family home"},
		} {
			if err := tx.AddStock(e); err != nil {
				return err
			}
		}
		if held, err := tx.StockHeld("R-1"); err != nil || len(held) != 0 {
			t.Errorf("after delivery held = %+v, %v", held, err)
		}
		if ok, err := tx.ReserveStock(res); err != nil || !ok {
			t.Errorf("reserve again after release: %v, %v", ok, err)
		}
		if _, err := tx.ReserveStock(store.StockEntry{Item: "kit", Qty: 1}); err == nil {
			t.Error("a reservation without a card was accepted")
		}
		return nil
	})
}

// The count is always explainable: on hand and reserved are the sums of the
// ledger's lines, whatever their order, and the aggregate agrees.
func TestStockLedgerExplainsTheCount(t *testing.T) { eachBackend(t, testStockLedgerExplainsTheCount) }

func testStockLedgerExplainsTheCount(t *testing.T) {
	st := open(t, filepath.Join(t.TempDir(), "sewa.db"))
	entries := []store.StockEntry{
		{Item: "kit", Location: "Okhla", Kind: store.StockReceived, Qty: 50},
		{Item: "kit", Location: "Okhla", Kind: store.StockReserved, Qty: 3, Card: "R-1"},
		{Item: "kit", Location: "Okhla", Kind: store.StockReserved, Qty: 2, Card: "R-2"},
		{Item: "kit", Location: "Okhla", Kind: store.StockDelivered, Qty: 2, Card: "R-1"},
		{Item: "kit", Location: "Okhla", Kind: store.StockReleased, Qty: 1, Card: "R-1", Note: "one family had moved"},
		{Item: "kit", Location: "Okhla", Kind: store.StockAdjusted, Qty: -4, Note: "torn in the rain"},
		{Item: "kit", Location: "Jasola", Kind: store.StockReceived, Qty: 7},
		{Item: "rice 5kg", Location: "Jasola", Kind: store.StockReceived, Qty: 20},
	}
	tx(t, st, func(tx *store.Tx) error {
		for i, e := range entries {
			e.At = stockAt.Add(time.Duration(i) * time.Minute)
			if err := tx.AddStock(e); err != nil {
				return err
			}
		}
		return nil
	})
	want := map[string]store.StockLevel{
		"kit@Okhla":       {Item: "kit", Location: "Okhla", OnHand: 50 - 2 - 4, Reserved: 3 + 2 - 2 - 1},
		"kit@Jasola":      {Item: "kit", Location: "Jasola", OnHand: 7},
		"rice 5kg@Jasola": {Item: "rice 5kg", Location: "Jasola", OnHand: 20},
	}
	sums := ledgerSums(t, st)
	tx(t, st, func(tx *store.Tx) error {
		agg, err := tx.StockLevels()
		if err != nil {
			return err
		}
		if len(sums) != len(want) || len(agg) != len(want) {
			t.Fatalf("levels %+v, aggregate %+v", sums, agg)
		}
		for i, l := range sums {
			if w := want[l.Item+"@"+l.Location]; l != w || agg[i] != w {
				t.Errorf("%s@%s: ledger %+v, aggregate %+v, want %+v", l.Item, l.Location, l, agg[i], w)
			}
		}
		holds, err := tx.StockHolds()
		if err != nil || len(holds) != 1 || holds[0] != (store.Hold{Card: "R-2", Item: "kit", Location: "Okhla", Qty: 2}) {
			t.Errorf("holds = %+v, %v", holds, err)
		}
		lines, err := tx.StockLedger("kit", "Okhla", 3)
		if err != nil || len(lines) != 3 || lines[0].Note != "torn in the rain" || lines[0].Qty != -4 || lines[2].Kind != store.StockDelivered {
			t.Errorf("ledger = %+v, %v", lines, err)
		}
		all, err := tx.StockLedger("", "", 100)
		if err != nil || len(all) != len(entries) {
			t.Errorf("whole ledger: %d lines, %v", len(all), err)
		}
		return nil
	})
}

func TestReceiptAsksAndUpdates(t *testing.T) { eachBackend(t, testReceiptAsksAndUpdates) }

func testReceiptAsksAndUpdates(t *testing.T) {
	st := open(t, filepath.Join(t.TempDir(), "sewa.db"))
	tx(t, st, func(tx *store.Tx) error {
		var ids []int64
		for _, name := range []string{"asha", "dev", "uma", "gone"} {
			c := &store.Contact{Channel: "console", Address: name, Name: name, Created: stockAt, LastSeen: stockAt}
			if name == "gone" {
				c.Blocked = stockAt
			}
			if err := tx.SaveContact(c); err != nil {
				return err
			}
			ids = append(ids, c.ID)
		}
		asha, dev, uma, gone := ids[0], ids[1], ids[2], ids[3]
		for range 2 {
			c := &store.Card{Flow: "request", Stage: "delivered", Requester: asha, Created: stockAt, Updated: stockAt, StageEntered: stockAt}
			if err := tx.NewCard("R", c); err != nil {
				return err
			}
		}
		if err := tx.AskReceipt(asha, "R-1", stockAt); err != nil {
			return err
		}
		if err := tx.AskReceipt(asha, "R-2", stockAt.Add(time.Hour)); err != nil {
			return err
		}
		if got, err := tx.ReceiptAsks(asha, stockAt.Add(30*time.Minute)); err != nil || fmt.Sprint(got) != "[R-2]" {
			t.Errorf("asks since 10:30 = %v, %v", got, err)
		}
		if ok, err := tx.CloseReceiptAsk(asha, "R-2"); !ok || err != nil {
			t.Errorf("close = %v, %v", ok, err)
		}
		if ok, _ := tx.CloseReceiptAsk(asha, "R-2"); ok {
			t.Error("closed twice")
		}
		if err := tx.DropReceiptAsks(stockAt.Add(time.Minute)); err != nil {
			return err
		}
		if got, _ := tx.ReceiptAsks(asha, time.Time{}); len(got) != 0 {
			t.Errorf("asks after drop = %v", got)
		}
		// dev gave with wants_updates=yes, then said no; uma said yes; the
		// donor who blocked the bot gets nothing.
		for i, who := range []int64{dev, gone, asha} {
			wants := "yes"
			if who == asha {
				wants = "no"
			}
			c := &store.Card{Flow: "donation", Stage: "receipted", Requester: who, Created: stockAt, Updated: stockAt, StageEntered: stockAt,
				Fields: map[string]string{"amount": fmt.Sprint(100 * (i + 1)), "wants_updates": wants}}
			if err := tx.NewCard("D", c); err != nil {
				return err
			}
		}
		if ok, _ := tx.IsDonor(dev); !ok {
			t.Error("dev is a donor")
		}
		if ok, _ := tx.IsDonor(uma); ok {
			t.Error("uma is not a donor")
		}
		if w, set, err := tx.Updates(dev); !w || set || err != nil {
			t.Errorf("dev updates = %v, %v, %v; want from the card", w, set, err)
		}
		if err := tx.SetUpdates(uma, true, stockAt, "/updates"); err != nil {
			return err
		}
		names := func() string {
			cs, err := tx.UpdateRecipients()
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, c := range cs {
				out = append(out, c.Address)
			}
			return fmt.Sprint(out)
		}
		if got := names(); got != "[dev uma]" {
			t.Errorf("recipients = %s", got)
		}
		if err := tx.SetUpdates(dev, false, stockAt, "/updates"); err != nil {
			return err
		}
		if w, set, _ := tx.Updates(dev); w || !set {
			t.Errorf("dev said no: %v, %v", w, set)
		}
		if got := names(); got != "[uma]" {
			t.Errorf("recipients after dev said no = %s", got)
		}
		dir, err := tx.DatabaseDir()
		if onPostgres() {
			if err == nil {
				t.Errorf("database dir on PostgreSQL = %q", dir)
			}
		} else if err != nil || dir == "" || dir == "." {
			t.Errorf("database dir = %q, %v", dir, err)
		}
		return nil
	})
}

package store

import (
	"fmt"
	"time"
)

// Stock ledger kinds. On hand changes with received, delivered and adjusted;
// reserved changes with reserved, released and delivered.
const (
	StockReceived  = "received"
	StockReserved  = "reserved"
	StockReleased  = "released"
	StockDelivered = "delivered"
	StockAdjusted  = "adjusted"
)

// StockLevel is the state of one item at one location.
type StockLevel struct {
	Item, Location string
	OnHand         int // physically in the store
	Reserved       int // promised to cards not yet delivered
}

// Free is what can still be reserved.
func (l StockLevel) Free() int { return l.OnHand - l.Reserved }

// StockEntry is one line of the ledger.
type StockEntry struct {
	At             time.Time
	Item, Location string
	Kind           string
	Qty            int
	Card, Actor    string
	Note           string
}

// AddStock appends a ledger line.
func (t *Tx) AddStock(e StockEntry) error {
	_, err := t.exec(`INSERT INTO stock_ledger (at, item, location, kind, qty, card_id, actor, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		ms(e.At), e.Item, e.Location, e.Kind, e.Qty, nullString(e.Card), e.Actor, e.Note)
	if err != nil {
		return fmt.Errorf("stock %s %d %s: %w", e.Kind, e.Qty, e.Item, err)
	}
	return nil
}

// Stock sums the ledger per item and location.
func (t *Tx) Stock() ([]StockLevel, error) {
	rows, err := t.tx.QueryContext(t.ctx, `SELECT item, location,
		coalesce(sum(CASE WHEN kind IN ('received', 'adjusted') THEN qty WHEN kind = 'delivered' THEN -qty ELSE 0 END), 0),
		coalesce(sum(CASE WHEN kind = 'reserved' THEN qty WHEN kind IN ('released', 'delivered') THEN -qty ELSE 0 END), 0)
		FROM stock_ledger GROUP BY item, location ORDER BY item, location`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StockLevel
	for rows.Next() {
		var l StockLevel
		if err := rows.Scan(&l.Item, &l.Location, &l.OnHand, &l.Reserved); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

package store

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
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

func scanStockLevel(r rowScanner) (StockLevel, error) {
	var l StockLevel
	err := r.Scan(&l.Item, &l.Location, &l.OnHand, &l.Reserved)
	return l, err
}

// StockEntry is one line of the ledger.
type StockEntry struct {
	ID             int64 // set when read back
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

// heldBy is what one card holds of one item at one location: its reserved
// minus released minus delivered lines.
const heldBy = `coalesce(sum(CASE kind WHEN 'reserved' THEN qty WHEN 'released' THEN -qty WHEN 'delivered' THEN -qty ELSE 0 END), 0)`

// ReserveStock appends e (a reserved line for e.Card) only if e.Qty of the
// item are free at the location and the card holds no stock yet. It is one
// conditional INSERT inside the write transaction, so free stock is checked
// and taken at once: however many transactions reserve at the same time,
// reserved never exceeds on hand. It reports whether the kits are reserved.
func (t *Tx) ReserveStock(e StockEntry) (bool, error) {
	if e.Card == "" || e.Qty <= 0 {
		return false, fmt.Errorf("reserve %d %s: a card and a positive quantity are needed", e.Qty, e.Item)
	}
	res, err := t.exec(`INSERT INTO stock_ledger (at, item, location, kind, qty, card_id, actor, note)
		SELECT CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS TEXT), 'reserved', CAST(? AS INTEGER), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT)
		WHERE coalesce((SELECT on_hand - reserved FROM stock_levels WHERE item = ? AND location = ?), 0) >= ?
		AND (SELECT `+heldBy+` FROM stock_ledger WHERE card_id = ?) <= 0`,
		ms(e.At), e.Item, e.Location, e.Qty, e.Card, e.Actor, e.Note,
		e.Item, e.Location, e.Qty, e.Card)
	if err != nil {
		return false, fmt.Errorf("reserve %d %s for %s: %w", e.Qty, e.Item, e.Card, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// Hold is stock one card holds: reserved for it and not yet released or
// delivered.
type Hold struct {
	Card, Item, Location string
	Qty                  int
}

// StockHeld lists what card holds, per item and location.
func (t *Tx) StockHeld(card string) ([]Hold, error) {
	return t.holds(`SELECT card_id, item, location, `+heldBy+` FROM stock_ledger
		WHERE card_id = ? GROUP BY card_id, item, location HAVING `+heldBy+` > 0 ORDER BY item, location`, card)
}

// StockHolds lists every card that holds stock, oldest reservation first.
func (t *Tx) StockHolds() ([]Hold, error) {
	return t.holds(`SELECT card_id, item, location, ` + heldBy + ` FROM stock_ledger
		WHERE card_id IS NOT NULL GROUP BY card_id, item, location HAVING ` + heldBy + ` > 0 ORDER BY min(id)`)
}

func (t *Tx) holds(query string, args ...any) ([]Hold, error) {
	rows, err := t.tx.QueryContext(t.ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("stock held: %w", err)
	}
	return scanAll(rows, func(r rowScanner) (Hold, error) {
		var h Hold
		err := r.Scan(&h.Card, &h.Item, &h.Location, &h.Qty)
		return h, err
	})
}

// StockLedger returns the newest ledger lines, at most limit, newest first;
// item and location, when not empty, narrow it.
func (t *Tx) StockLedger(item, location string, limit int) ([]StockEntry, error) {
	rows, err := t.tx.QueryContext(t.ctx, `SELECT id, at, item, location, kind, qty, coalesce(card_id, ''), actor, note
		FROM stock_ledger WHERE (? = '' OR item = ?) AND (? = '' OR location = ?) ORDER BY id DESC LIMIT ?`,
		item, item, location, location, limit)
	if err != nil {
		return nil, fmt.Errorf("stock ledger: %w", err)
	}
	return scanAll(rows, func(r rowScanner) (StockEntry, error) {
		var e StockEntry
		var at int64
		err := r.Scan(&e.ID, &at, &e.Item, &e.Location, &e.Kind, &e.Qty, &e.Card, &e.Actor, &e.Note)
		e.At = fromMS(at)
		return e, err
	})
}

// DatabaseDir is the directory of the database file: where files Sewa makes
// are kept when no data directory is configured.
func (t *Tx) DatabaseDir() (string, error) {
	if t.pg {
		return "", errors.New("database file: PostgreSQL keeps no files here; set a data directory")
	}
	var file string
	err := t.queryRow(`SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&file)
	if err != nil {
		return "", fmt.Errorf("database file: %w", err)
	}
	if file == "" {
		return "", errors.New("database file: an in-memory database has no directory")
	}
	return filepath.Dir(file), nil
}

// Receipt questions: a delivered request's requester is asked whether the
// kits reached them, and may answer while the question is open.

// AskReceipt records that contact was asked to confirm card's delivery.
func (t *Tx) AskReceipt(contact int64, card string, at time.Time) error {
	_, err := t.exec(`INSERT INTO receipt_asks (contact_id, card_id, asked_at) VALUES (?, ?, ?)
		ON CONFLICT (contact_id, card_id) DO UPDATE SET asked_at = excluded.asked_at`, contact, card, ms(at))
	if err != nil {
		return fmt.Errorf("receipt question for %s: %w", card, err)
	}
	return nil
}

// ReceiptAsks lists the cards contact was asked about since the given time,
// newest first.
func (t *Tx) ReceiptAsks(contact int64, since time.Time) ([]string, error) {
	rows, err := t.tx.QueryContext(t.ctx, `SELECT card_id FROM receipt_asks WHERE contact_id = ? AND asked_at >= ?
		ORDER BY asked_at DESC, card_id DESC`, contact, ms(since))
	if err != nil {
		return nil, fmt.Errorf("receipt questions: %w", err)
	}
	return scanAll(rows, func(r rowScanner) (string, error) {
		var id string
		err := r.Scan(&id)
		return id, err
	})
}

// CloseReceiptAsk ends the question about card; it reports whether it was open.
func (t *Tx) CloseReceiptAsk(contact int64, card string) (bool, error) {
	res, err := t.exec(`DELETE FROM receipt_asks WHERE contact_id = ? AND card_id = ?`, contact, card)
	if err != nil {
		return false, fmt.Errorf("receipt question for %s: %w", card, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// DropReceiptAsks forgets questions asked before the given time.
func (t *Tx) DropReceiptAsks(before time.Time) error {
	_, err := t.exec(`DELETE FROM receipt_asks WHERE asked_at < ?`, ms(before))
	return err
}

// Updates about deliveries.

// SetUpdates records whether contact wants the group's posts (via says how
// they said so: "/updates", "D-17").
func (t *Tx) SetUpdates(contact int64, wants bool, at time.Time, via string) error {
	_, err := t.exec(`INSERT INTO update_subscribers (contact_id, wants, at, via) VALUES (?, ?, ?, ?)
		ON CONFLICT (contact_id) DO UPDATE SET wants = excluded.wants, at = excluded.at, via = excluded.via`,
		contact, boolInt(wants), ms(at), via)
	if err != nil {
		return fmt.Errorf("updates for contact %d: %w", contact, err)
	}
	return nil
}

// Updates reports whether contact said they want updates (set false means
// they have not said either way). A donor whose donation card has
// wants_updates=yes wants them unless they said otherwise.
func (t *Tx) Updates(contact int64) (wants, set bool, err error) {
	var w int
	err = t.queryRow(`SELECT wants FROM update_subscribers WHERE contact_id = ?`, contact).Scan(&w)
	wants = w == 1
	if errors.Is(err, sql.ErrNoRows) {
		var n int
		err = t.queryRow(`SELECT count(*) FROM cards WHERE requester = ? AND flow = 'donation'
			AND lower(json_extract(fields, '$.wants_updates')) IN ('yes', 'y', '1', 'true')`, contact).Scan(&n)
		return n > 0, false, err
	}
	return wants, err == nil, err
}

// IsDonor reports whether contact asked for (gave) a donation card.
func (t *Tx) IsDonor(contact int64) (bool, error) {
	var n int
	err := t.queryRow(`SELECT count(*) FROM (SELECT 1 FROM cards WHERE requester = ? AND flow = 'donation' LIMIT 1) AS d`, contact).Scan(&n)
	return n > 0, err
}

// UpdateRecipients lists the contacts who want the group's posts: those who
// said so, and donors whose donation card has wants_updates=yes, less those
// who said no; not those who blocked the bot.
func (t *Tx) UpdateRecipients() ([]*Contact, error) {
	rows, err := t.tx.QueryContext(t.ctx, `SELECT `+contactCols+` FROM contacts WHERE blocked_at IS NULL AND id IN (
			SELECT contact_id FROM update_subscribers WHERE wants = 1
			UNION
			SELECT requester FROM cards WHERE flow = 'donation' AND requester IS NOT NULL
				AND lower(json_extract(fields, '$.wants_updates')) IN ('yes', 'y', '1', 'true')
				AND requester NOT IN (SELECT contact_id FROM update_subscribers WHERE wants = 0))
		ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("update recipients: %w", err)
	}
	return scanAll(rows, scanContact)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

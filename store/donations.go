package store

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// DonationCard returns the card made for a donation key, or "" when the
// money behind the key has no card yet.
func (t *Tx) DonationCard(key string) (string, error) {
	var id string
	err := t.queryRow(`SELECT card_id FROM donation_keys WHERE key = ?`, key).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("donation key: %w", err)
	}
	return id, nil
}

// AddDonationKey records that key's money is card cardID. When another card
// already has the key it writes nothing and returns that card's id, so the
// caller can undo its own card; otherwise it returns "".
func (t *Tx) AddDonationKey(key, cardID string, at time.Time) (string, error) {
	res, err := t.exec(`INSERT INTO donation_keys (key, card_id, created_at) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING`,
		key, cardID, ms(at))
	if err != nil {
		return "", fmt.Errorf("donation key for %s: %w", cardID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return "", err
	}
	return t.DonationCard(key)
}

// DonationsFrom lists donation cards whose payer (the counterparty field)
// is counterparty, ignoring case, newest first, leaving out the card except.
func (t *Tx) DonationsFrom(counterparty, except string, limit int) ([]*Card, error) {
	return t.cards(`SELECT `+cardCols+` FROM cards
		WHERE flow = 'donation' AND lower(json_extract(fields, '$.counterparty')) = lower(?) AND id <> ?
		ORDER BY created_at DESC, id DESC LIMIT ?`, counterparty, except, limit)
}

// Receipt is one numbered tax receipt as issued.
type Receipt struct {
	Number  string // "2026-27/0001"
	FY      string // "2026-27"
	Seq     int
	Card    string
	Issued  time.Time
	Path    string // the PDF
	Content string // what the receipt says, JSON: enough to draw it again
}

// NextReceiptSeq takes the next receipt number of financial year fy: 1 for
// the first. It belongs to the transaction: if the receipt is not stored,
// the number is given back with the rollback, so numbers have no gaps.
func (t *Tx) NextReceiptSeq(fy string) (int, error) {
	var n int
	err := t.queryRow(`INSERT INTO receipt_seq (fy, last) VALUES (?, 1)
		ON CONFLICT (fy) DO UPDATE SET last = receipt_seq.last + 1 RETURNING last`, fy).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("next receipt number of %s: %w", fy, err)
	}
	return n, nil
}

// AddReceipt stores an issued receipt. A card has at most one receipt.
func (t *Tx) AddReceipt(r Receipt) error {
	_, err := t.keepGoing(`INSERT INTO receipts (number, fy, seq, card_id, issued_at, path, content) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		r.Number, r.FY, r.Seq, r.Card, ms(r.Issued), r.Path, r.Content)
	if err != nil {
		return fmt.Errorf("store receipt %s for %s: %w", r.Number, r.Card, err)
	}
	return nil
}

// ReceiptOf returns the receipt issued for a card; ErrNotFound if none.
func (t *Tx) ReceiptOf(cardID string) (*Receipt, error) {
	var r Receipt
	var issued int64
	err := t.queryRow(`SELECT number, fy, seq, card_id, issued_at, path, content FROM receipts WHERE card_id = ?`, cardID).
		Scan(&r.Number, &r.FY, &r.Seq, &r.Card, &issued, &r.Path, &r.Content)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("receipt of %s: %w", cardID, err)
	}
	r.Issued = fromMS(issued)
	return &r, nil
}

// ContactsWithPhone lists the reachable contacts whose phone is phone (10
// digits), the most recently seen first.
func (t *Tx) ContactsWithPhone(phone string) ([]*Contact, error) {
	return t.contacts(`SELECT `+contactCols+` FROM contacts
		WHERE phone = ? AND phone <> '' AND blocked_at IS NULL ORDER BY last_seen DESC, id DESC`, phone)
}

// SMSRecord is one bank SMS text as received, and what became of it.
type SMSRecord struct {
	Hash     string
	Received time.Time
	Via      string // "http", "import", "console:asha"
	Kind     string // credit, debit, none
	Reason   string // why it is not a donation
	Card     string // the card it made or matched
	Body     string
}

// RecordSMS keeps an SMS text the first time it arrives; a text already
// kept is left as it was, and RecordSMS reports false.
func (t *Tx) RecordSMS(r SMSRecord) (bool, error) {
	res, err := t.exec(`INSERT INTO sms_received (hash, received_at, via, kind, reason, card_id, body) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (hash) DO NOTHING`, r.Hash, ms(r.Received), r.Via, r.Kind, r.Reason, optCard(r.Card), r.Body)
	if err != nil {
		return false, fmt.Errorf("record sms: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// RecentSMS lists the SMS texts received that made no card (debits and
// anything else that is not a donation), newest first.
func (t *Tx) RecentSMS(limit int) ([]SMSRecord, error) {
	return queryAll(t, `SELECT hash, received_at, via, kind, reason, coalesce(card_id, ''), body
		FROM sms_received WHERE card_id IS NULL ORDER BY received_at DESC, rowid DESC LIMIT ?`, []any{limit}, func(row rowScanner) (SMSRecord, error) {
		var r SMSRecord
		var at int64
		err := row.Scan(&r.Hash, &at, &r.Via, &r.Kind, &r.Reason, &r.Card, &r.Body)
		r.Received = fromMS(at)
		return r, err
	})
}

// optCard stores "" as NULL: a text that made no card.
func optCard(id string) any {
	if id == "" {
		return nil
	}
	return id
}

package store

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The coordinators' board: what /status, /card, /find, the stale-card
// reminders and the daily digest read and record. Every read here uses an
// aggregate kept by triggers (migration 0003) or an index range that is as
// small as what it counts, so the board stays fast with a million cards.

// StageQuery asks about one stage; StaleBefore is now minus the stage's
// stale_after (zero: the stage never goes stale).
type StageQuery struct {
	Flow, Stage string
	StaleBefore time.Time
}

// StageStat is the state of one stage's queue.
type StageStat struct {
	Flow, Stage string
	Open        int       // open cards in the stage
	Held        int       // of them, held by someone
	Stale       int       // of them, in the stage since before StaleBefore (at most StaleCap)
	Oldest      time.Time // when the longest-waiting card entered, zero when none
	OldestCard  string
}

// StaleCap bounds the stale count of one stage, so a pile of stale cards
// costs no more to count than a screen can show ("999+").
const StaleCap = 1000

// Board returns the state of each queried stage, in the order asked, and
// then of any other stage that has open cards (a stage a flow file no
// longer names), ordered by flow and stage.
func (t *Tx) Board(qs []StageQuery) ([]StageStat, error) {
	rows, err := t.tx.QueryContext(t.ctx, `SELECT flow, stage, n_open, n_held FROM stage_counts WHERE n_open > 0 ORDER BY flow, stage`)
	if err != nil {
		return nil, fmt.Errorf("stage counts: %w", err)
	}
	counts := map[[2]string]StageStat{}
	var order [][2]string
	for rows.Next() {
		var s StageStat
		if err := rows.Scan(&s.Flow, &s.Stage, &s.Open, &s.Held); err != nil {
			rows.Close()
			return nil, err
		}
		k := [2]string{s.Flow, s.Stage}
		counts[k] = s
		order = append(order, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]StageStat, 0, len(qs))
	asked := map[[2]string]bool{}
	for _, q := range qs {
		k := [2]string{q.Flow, q.Stage}
		asked[k] = true
		s, ok := counts[k]
		if !ok {
			out = append(out, StageStat{Flow: q.Flow, Stage: q.Stage})
			continue
		}
		if err := t.fillStage(&s, q.StaleBefore); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	for _, k := range order {
		if asked[k] {
			continue
		}
		s := counts[k]
		if err := t.fillStage(&s, time.Time{}); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (t *Tx) fillStage(s *StageStat, staleBefore time.Time) error {
	var entered int64
	err := t.queryRow(`SELECT id, stage_entered_at FROM cards WHERE flow = ? AND stage = ? AND open = 1
		ORDER BY stage_entered_at, id LIMIT 1`, s.Flow, s.Stage).Scan(&s.OldestCard, &entered)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // counts ahead of a card deleted in this transaction
	}
	if err != nil {
		return fmt.Errorf("oldest of %s/%s: %w", s.Flow, s.Stage, err)
	}
	s.Oldest = fromMS(entered)
	if staleBefore.IsZero() || s.Oldest.After(staleBefore) {
		return nil
	}
	err = t.queryRow(`SELECT count(*) FROM (SELECT 1 FROM cards WHERE flow = ? AND stage = ? AND open = 1 AND stage_entered_at <= ? LIMIT ?) AS stale`,
		s.Flow, s.Stage, ms(staleBefore), StaleCap).Scan(&s.Stale)
	if err != nil {
		return fmt.Errorf("stale of %s/%s: %w", s.Flow, s.Stage, err)
	}
	return nil
}

// OldestOpen lists the open cards of a stage that entered it at or before
// before, longest waiting first, at most limit.
func (t *Tx) OldestOpen(flow, stage string, before time.Time, limit int) ([]*Card, error) {
	return t.cards(`SELECT `+cardCols+` FROM cards WHERE flow = ? AND stage = ? AND open = 1 AND stage_entered_at <= ?
		ORDER BY stage_entered_at, id LIMIT ?`, flow, stage, ms(before), limit)
}

// Reminder levels: the holder is reminded first; coordinators are told
// after a second period, or at once when nobody holds the card.
const (
	RemindHolder       = "holder"
	RemindCoordinators = "coordinators"
)

// StaleCard is a stale card that still needs a reminder at some level.
type StaleCard struct {
	*Card
	HolderReminded bool // the holder was reminded during this stage entry
}

// StaleCards lists the open cards of a stage that entered it at or before
// staleBefore and still need a reminder: not yet escalated to coordinators,
// and either unheld, never reminded or in the stage since escalateBefore.
// Longest waiting first, at most limit. A card that moved on has a new
// stage_entered_at, so reminders of its old stage no longer apply.
func (t *Tx) StaleCards(flow, stage string, staleBefore, escalateBefore time.Time, limit int) ([]StaleCard, error) {
	const sentAt = `SELECT 1 FROM reminders r WHERE r.card_id = c.id AND r.stage_entered_at = c.stage_entered_at AND r.level = `
	rows, err := t.tx.QueryContext(t.ctx, `SELECT `+prefixed("c.", cardCols)+`, EXISTS (`+sentAt+`'holder')
		FROM cards c
		WHERE c.flow = ? AND c.stage = ? AND c.open = 1 AND c.stage_entered_at <= ?
		  AND NOT EXISTS (`+sentAt+`'coordinators')
		  AND (c.assignee IS NULL OR c.stage_entered_at <= ? OR NOT EXISTS (`+sentAt+`'holder'))
		ORDER BY c.stage_entered_at, c.id LIMIT ?`, flow, stage, ms(staleBefore), ms(escalateBefore), limit)
	if err != nil {
		return nil, fmt.Errorf("stale cards of %s/%s: %w", flow, stage, err)
	}
	return scanAll(rows, func(r rowScanner) (StaleCard, error) {
		var reminded bool
		c, err := scanCard(scanFunc(func(dest ...any) error { return r.Scan(append(dest, &reminded)...) }))
		return StaleCard{Card: c, HolderReminded: reminded}, err
	})
}

type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

func prefixed(p, cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = p + parts[i]
	}
	return strings.Join(parts, ", ")
}

// Reminder is one stale-card reminder sent.
type Reminder struct {
	Card         string
	StageEntered time.Time
	Level        string // RemindHolder or RemindCoordinators
	Stage        string
	Contact      int64 // the holder reminded, if any
	SentAt       time.Time
}

// RecordReminder records a reminder about to be sent. It reports false when
// it was already recorded (by an earlier run or another process), in which
// case it must not be sent again.
func (t *Tx) RecordReminder(r Reminder) (bool, error) {
	res, err := t.exec(`INSERT INTO reminders (card_id, stage_entered_at, level, stage, contact_id, sent_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`, r.Card, ms(r.StageEntered), r.Level, r.Stage, optID(r.Contact), ms(r.SentAt))
	if err != nil {
		return false, fmt.Errorf("record %s reminder of %s: %w", r.Level, r.Card, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// Reminders lists the reminders sent about a card, oldest first.
func (t *Tx) Reminders(cardID string) ([]Reminder, error) {
	return queryAll(t, `SELECT card_id, stage_entered_at, level, stage, contact_id, sent_at
		FROM reminders WHERE card_id = ? ORDER BY sent_at, stage_entered_at, level DESC`, []any{cardID}, func(row rowScanner) (Reminder, error) {
		var r Reminder
		var entered, sent int64
		var contact sql.NullInt64
		err := row.Scan(&r.Card, &entered, &r.Level, &r.Stage, &contact, &sent)
		r.StageEntered, r.SentAt, r.Contact = fromMS(entered), fromMS(sent), contact.Int64
		return r, err
	})
}

// MarkDigest records the digest of day (a date, "2026-04-02") as sent. It
// reports false when it already was.
func (t *Tx) MarkDigest(day string, at time.Time) (bool, error) {
	res, err := t.exec(`INSERT INTO digests (day, sent_at) VALUES (?, ?) ON CONFLICT DO NOTHING`, day, ms(at))
	if err != nil {
		return false, fmt.Errorf("mark digest %s: %w", day, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// CreatedBetween counts the cards of flow created in [from, to).
func (t *Tx) CreatedBetween(flow string, from, to time.Time) (int, error) {
	var n int
	err := t.queryRow(`SELECT count(*) FROM cards WHERE flow = ? AND created_at >= ? AND created_at < ?`, flow, ms(from), ms(to)).Scan(&n)
	return n, err
}

// FieldSum is a count of cards and the sum of a numeric field over them, in
// hundredths so that rupees and paise add up exactly.
type FieldSum struct {
	N          int
	Hundredths int64
}

// SumCreated counts the cards of flow created in [from, to) and sums field
// ("1100.00", "4").
func (t *Tx) SumCreated(flow, field string, from, to time.Time) (FieldSum, error) {
	var s FieldSum
	err := t.queryRow(`SELECT count(*), coalesce(sum(`+t.hundredths(`json_extract(fields, ?)`)+`), 0)
		FROM cards WHERE flow = ? AND created_at >= ? AND created_at < ?`,
		"$."+field, flow, ms(from), ms(to)).Scan(&s.N, &s.Hundredths)
	if err != nil {
		return s, fmt.Errorf("sum %s of %s: %w", field, flow, err)
	}
	return s, nil
}

// StageMove counts the moves of a flow's cards from one stage to another
// in a period; From is "" for cards created into To. Kits sums the moved
// cards' kits_given field, in hundredths.
type StageMove struct {
	From, To string
	N        int
	Kits     int64
}

// tallyBucket is the period of the move tally: a quarter hour, so that a
// day in any time zone is a whole number of buckets.
const tallyBucket = 15 * time.Minute

// MovesBetween counts the moves of cards with prefix ("R") in [from, to),
// from the move tally: a day costs at most 96 buckets however busy it was.
// from and to are taken to the quarter hour.
func (t *Tx) MovesBetween(prefix string, from, to time.Time) ([]StageMove, error) {
	bucket := tallyBucket.Milliseconds()
	rows, err := t.tx.QueryContext(t.ctx, `SELECT from_stage, to_stage, sum(n), sum(kits) FROM move_tally
		WHERE prefix = ? AND bucket >= ? AND bucket < ?
		GROUP BY from_stage, to_stage ORDER BY from_stage, to_stage`, prefix, ms(from)/bucket, ms(to)/bucket)
	if err != nil {
		return nil, fmt.Errorf("moves of %s: %w", prefix, err)
	}
	return scanAll(rows, func(r rowScanner) (StageMove, error) {
		var m StageMove
		err := r.Scan(&m.From, &m.To, &m.N, &m.Kits)
		return m, err
	})
}

// SeenWorkers lists the contacts with any role seen in [from, to).
func (t *Tx) SeenWorkers(from, to time.Time) ([]*Contact, error) {
	return t.contacts(`SELECT `+contactCols+` FROM contacts WHERE roles <> '' AND last_seen >= ? AND last_seen < ? ORDER BY id`, ms(from), ms(to))
}

// ActiveWorkers lists the contacts with any role who were seen, or acted on
// a card, in [from, to): someone last seen today who worked yesterday counts
// for yesterday. It reads the period's events; the digest asks once a day.
func (t *Tx) ActiveWorkers(from, to time.Time) ([]*Contact, error) {
	return t.contacts(`SELECT `+contactCols+` FROM contacts WHERE roles <> '' AND last_seen >= ? AND last_seen < ?
		UNION
		SELECT `+contactCols+` FROM contacts WHERE roles <> '' AND last_seen >= ?
		  AND channel || ':' || address IN (SELECT DISTINCT substr(actor, 1, instr(actor || ' ', ' ') - 1)
		    FROM card_events WHERE at >= ? AND at < ?)
		ORDER BY id`, ms(from), ms(to), ms(from), ms(from), ms(to))
}

// Holding is a contact and the open cards they hold.
type Holding struct {
	Contact *Contact
	Cards   []string
}

// HeldByAbsent lists who holds open cards without having been seen since
// seenBefore, with those cards, longest absent first.
func (t *Tx) HeldByAbsent(seenBefore time.Time) ([]Holding, error) {
	rows, err := t.tx.QueryContext(t.ctx, `SELECT c.id, `+prefixed("k.", contactCols)+`
		FROM cards c JOIN contacts k ON k.id = c.assignee
		WHERE c.assignee IS NOT NULL AND c.open = 1 AND k.last_seen < ?
		ORDER BY k.last_seen, k.id, c.stage_entered_at, c.id`, ms(seenBefore))
	if err != nil {
		return nil, fmt.Errorf("held by absent: %w", err)
	}
	defer rows.Close()
	var out []Holding
	for rows.Next() {
		var card string
		k, err := scanContact(scanFunc(func(dest ...any) error { return rows.Scan(append([]any{&card}, dest...)...) }))
		if err != nil {
			return nil, err
		}
		if n := len(out); n > 0 && out[n-1].Contact.ID == k.ID {
			out[n-1].Cards = append(out[n-1].Cards, card)
			continue
		}
		out = append(out, Holding{Contact: k, Cards: []string{card}})
	}
	return out, rows.Err()
}

// StockLevels returns on hand and reserved per item and location, ordered
// by item and location, from the aggregate the ledger keeps (stock_levels,
// migration 0003) instead of summing the ledger.
func (t *Tx) StockLevels() ([]StockLevel, error) {
	rows, err := t.tx.QueryContext(t.ctx, `SELECT item, location, on_hand, reserved FROM stock_levels ORDER BY item, location`)
	if err != nil {
		return nil, fmt.Errorf("stock levels: %w", err)
	}
	return scanAll(rows, scanStockLevel)
}

// ChannelStats is what the store knows of a channel's health.
type ChannelStats struct {
	LastIn  time.Time // the last inbound message committed
	Pending int       // outbox rows waiting to be sent
	Failed  int       // outbox rows given up on, created since the time asked
}

// ChannelActivity reads a channel's last inbound message and its outbox
// backlog and failures since failedSince, each from an index.
func (t *Tx) ChannelActivity(channel string, failedSince time.Time) (ChannelStats, error) {
	var s ChannelStats
	var last sql.NullInt64
	err := t.queryRow(`SELECT (SELECT max(received_at) FROM inbound WHERE channel = ?),
		(SELECT count(*) FROM outbox WHERE channel = ? AND status = 'pending'),
		(SELECT count(*) FROM outbox WHERE channel = ? AND status = 'failed' AND created_at >= ?)`,
		channel, channel, channel, ms(failedSince)).Scan(&last, &s.Pending, &s.Failed)
	if err != nil {
		return s, fmt.Errorf("channel %s activity: %w", channel, err)
	}
	s.LastIn = nullMS(last)
	return s, nil
}

// FindCards searches the cards' names, phones, places and references for
// text (at least 3 letters or digits; case does not matter), newest card
// number first within each flow, at most limit.
func (t *Tx) FindCards(text string, limit int) ([]*Card, error) {
	text = strings.TrimSpace(text)
	if len([]rune(text)) < 3 {
		return nil, nil
	}
	if t.pg { // pg_trgm (migration 0003): any substring, letters in either case
		pattern := "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(text) + "%"
		return t.cards(`SELECT `+prefixed("c.", cardCols)+` FROM card_search s JOIN cards c ON c.id = s.card_id
			WHERE s.body ILIKE ? ESCAPE '\' ORDER BY s.rowid DESC LIMIT ?`, pattern, limit)
	}
	phrase := `"` + strings.ReplaceAll(text, `"`, `""`) + `"`
	return t.cards(`SELECT `+prefixed("c.", cardCols)+` FROM card_search s JOIN cards c ON c.id = s.card_id
		WHERE card_search MATCH ? ORDER BY s.rowid DESC LIMIT ?`, "body : "+phrase, limit)
}

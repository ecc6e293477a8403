package store

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Card is one piece of work on the board.
type Card struct {
	ID           string
	Flow         string
	Stage        string
	Open         bool
	Fields       map[string]string
	Requester    int64 // the contact who asked, if any
	Assignee     int64 // the contact holding it, if any
	LeaseUntil   time.Time
	Priority     int
	Created      time.Time
	Updated      time.Time
	StageEntered time.Time
}

// Event is one line of a card's history.
type Event struct {
	ID    int64
	Card  string
	At    time.Time
	Actor string
	From  string
	To    string
	What  string
}

const cardCols = `id, flow, stage, open, fields, requester, assignee, lease_until, priority, created_at, updated_at, stage_entered_at`

func scanCard(row rowScanner) (*Card, error) {
	var c Card
	var fields string
	var requester, assignee, lease sql.NullInt64
	var created, updated, entered int64
	if err := row.Scan(&c.ID, &c.Flow, &c.Stage, &c.Open, &fields, &requester, &assignee, &lease, &c.Priority, &created, &updated, &entered); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(fields), &c.Fields); err != nil {
		return nil, fmt.Errorf("card %s fields: %w", c.ID, err)
	}
	c.Requester, c.Assignee = requester.Int64, assignee.Int64
	c.LeaseUntil = nullMS(lease)
	c.Created, c.Updated, c.StageEntered = fromMS(created), fromMS(updated), fromMS(entered)
	return &c, nil
}

// NewCard gives c the next id of prefix ("R" → "R-43") and inserts it.
func (t *Tx) NewCard(prefix string, c *Card) error {
	var n int64
	err := t.queryRow(`INSERT INTO card_seq (prefix, last) VALUES (?, 1)
		ON CONFLICT (prefix) DO UPDATE SET last = card_seq.last + 1 RETURNING last`, prefix).Scan(&n)
	if err != nil {
		return fmt.Errorf("next %s id: %w", prefix, err)
	}
	c.ID = prefix + "-" + itoa(n)
	c.Open = true
	if c.Fields == nil {
		c.Fields = map[string]string{}
	}
	fields, err := json.Marshal(c.Fields)
	if err != nil {
		return err
	}
	_, err = t.exec(`INSERT INTO cards (`+cardCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.Flow, c.Stage, c.Open, string(fields), optID(c.Requester), optID(c.Assignee), optMS(c.LeaseUntil),
		c.Priority, ms(c.Created), ms(c.Updated), ms(c.StageEntered))
	if err != nil {
		return fmt.Errorf("insert card %s: %w", c.ID, err)
	}
	return nil
}

// Card loads a card; ErrNotFound if there is none.
func (t *Tx) Card(id string) (*Card, error) {
	c, err := scanCard(t.queryRow(`SELECT `+cardCols+` FROM cards WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return c, err
}

// SaveCard writes every column of an existing card.
func (t *Tx) SaveCard(c *Card) error {
	fields, err := json.Marshal(c.Fields)
	if err != nil {
		return err
	}
	res, err := t.exec(`UPDATE cards SET flow = ?, stage = ?, open = ?, fields = ?, requester = ?, assignee = ?, lease_until = ?,
		priority = ?, updated_at = ?, stage_entered_at = ? WHERE id = ?`,
		c.Flow, c.Stage, c.Open, string(fields), optID(c.Requester), optID(c.Assignee), optMS(c.LeaseUntil),
		c.Priority, ms(c.Updated), ms(c.StageEntered), c.ID)
	if err != nil {
		return fmt.Errorf("save card %s: %w", c.ID, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("save card %s: %w", c.ID, ErrNotFound)
	}
	return nil
}

// AddEvent appends a line to a card's history.
func (t *Tx) AddEvent(e Event) error {
	_, err := t.exec(`INSERT INTO card_events (card_id, at, actor, from_stage, to_stage, what) VALUES (?, ?, ?, ?, ?, ?)`,
		e.Card, ms(e.At), e.Actor, e.From, e.To, e.What)
	if err != nil {
		return fmt.Errorf("event on %s: %w", e.Card, err)
	}
	return nil
}

// Events returns a card's history, oldest first.
func (t *Tx) Events(cardID string) ([]Event, error) {
	return queryAll(t, `SELECT id, card_id, at, actor, from_stage, to_stage, what
		FROM card_events WHERE card_id = ? ORDER BY id`, []any{cardID}, func(r rowScanner) (Event, error) {
		var e Event
		var at int64
		err := r.Scan(&e.ID, &e.Card, &at, &e.Actor, &e.From, &e.To, &e.What)
		e.At = fromMS(at)
		return e, err
	})
}

// OpenCardsOf lists the open cards a contact asked for, newest first.
func (t *Tx) OpenCardsOf(requester int64, flow string) ([]*Card, error) {
	return t.cards(`SELECT `+cardCols+` FROM cards WHERE requester = ? AND flow = ? AND open = 1 ORDER BY created_at DESC`, requester, flow)
}

// CardsOf lists every card a contact asked for, newest first, at most limit.
func (t *Tx) CardsOf(requester int64, limit int) ([]*Card, error) {
	return t.cards(`SELECT `+cardCols+` FROM cards WHERE requester = ? ORDER BY created_at DESC LIMIT ?`, requester, limit)
}

// OpenCardsWithPhone finds open cards of flow whose phone field is phone.
func (t *Tx) OpenCardsWithPhone(flow, phone string) ([]*Card, error) {
	return t.cards(`SELECT `+cardCols+` FROM cards WHERE flow = ? AND open = 1 AND json_extract(fields, '$.phone') = ? ORDER BY created_at`, flow, phone)
}

// Queue lists the open cards in a stage, in queue order.
func (t *Tx) Queue(flow, stage string, limit int) ([]*Card, error) {
	return t.cards(`SELECT `+cardCols+` FROM cards WHERE flow = ? AND stage = ? AND open = 1
		ORDER BY priority DESC, stage_entered_at, id LIMIT ?`, flow, stage, limit)
}

func (t *Tx) cards(query string, args ...any) ([]*Card, error) {
	return queryAll(t, query, args, scanCard)
}

// StageCount is how many open cards wait in one stage.
type StageCount struct {
	Flow, Stage string
	Open, Held  int
	Oldest      time.Time // when the longest-waiting card entered the stage
}

// StageCounts counts open cards per flow and stage.
func (t *Tx) StageCounts() ([]StageCount, error) {
	return queryAll(t, `SELECT flow, stage, count(*), count(assignee), min(stage_entered_at)
		FROM cards WHERE open = 1 GROUP BY flow, stage ORDER BY flow, stage`, nil, func(r rowScanner) (StageCount, error) {
		var c StageCount
		var oldest int64
		err := r.Scan(&c.Flow, &c.Stage, &c.Open, &c.Held, &oldest)
		c.Oldest = fromMS(oldest)
		return c, err
	})
}

package store

import (
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Stage queues. Every stage worked by people is a queue of its open cards,
// ordered by priority, then by how long they have waited in the stage (the
// cards_queue index). A volunteer claims a card by taking a lease on it
// (assignee and lease_until); finishing the stage moves the card on and
// clears both; an expired lease puts it back. Claiming is one conditional
// UPDATE, so two volunteers can never hold the same card, however many
// processes share the database.

// StageRef names one stage of one flow: one queue.
type StageRef struct{ Flow, Stage string }

// NextFree returns the first card in queue order among stages that nobody
// holds, or whose lease ended before now. Cards asked for by notFor are
// passed over: nobody works on their own request or application.
// ErrNotFound when there is none.
func (t *Tx) NextFree(stages []StageRef, notFor int64, now time.Time) (*Card, error) {
	var best *Card
	for _, s := range stages {
		// One indexed range per stage rather than one query over all of
		// them: each stops at its first free card.
		c, err := scanCard(t.queryRow(`SELECT `+cardCols+` FROM cards
			WHERE flow = ? AND stage = ? AND open = 1 AND (assignee IS NULL OR lease_until < ?)
			AND (requester IS NULL OR requester <> ?)
			ORDER BY priority DESC, stage_entered_at, id LIMIT 1`, s.Flow, s.Stage, ms(now), notFor))
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("queue %s/%s: %w", s.Flow, s.Stage, err)
		}
		if best == nil || queuedBefore(c, best) {
			best = c
		}
	}
	if best == nil {
		return nil, ErrNotFound
	}
	return best, nil
}

func queuedBefore(a, b *Card) bool {
	if a.Priority != b.Priority {
		return a.Priority > b.Priority
	}
	if !a.StageEntered.Equal(b.StageEntered) {
		return a.StageEntered.Before(b.StageEntered)
	}
	return a.ID < b.ID
}

// ClaimCard gives card id, while it is open and still in stage, to who until
// the given time, unless someone else holds a lease that has not run out.
// who may renew their own lease. It is one conditional UPDATE: of any number
// of concurrent claims, exactly one wins. It reports whether who holds it.
func (t *Tx) ClaimCard(id, stage string, who int64, now, until time.Time) (bool, error) {
	res, err := t.exec(`UPDATE cards SET assignee = ?, lease_until = ?, updated_at = ?
		WHERE id = ? AND stage = ? AND open = 1 AND (assignee IS NULL OR lease_until < ? OR assignee = ?)`,
		who, ms(until), ms(now), id, stage, ms(now), who)
	if err != nil {
		return false, fmt.Errorf("claim %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// AssignCard gives an open card to who until the given time, whoever held
// it: a coordinator's decision.
func (t *Tx) AssignCard(id string, who int64, now, until time.Time) (bool, error) {
	res, err := t.exec(`UPDATE cards SET assignee = ?, lease_until = ?, updated_at = ? WHERE id = ? AND open = 1`,
		who, ms(until), ms(now), id)
	if err != nil {
		return false, fmt.Errorf("assign %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// ReleaseCard puts a card held by holder back in its queue. It reports
// false when holder does not hold it.
func (t *Tx) ReleaseCard(id string, holder int64, now time.Time) (bool, error) {
	res, err := t.exec(`UPDATE cards SET assignee = NULL, lease_until = NULL, updated_at = ? WHERE id = ? AND assignee = ?`,
		ms(now), id, holder)
	if err != nil {
		return false, fmt.Errorf("release %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// RenewLease moves the end of holder's lease on a card. It reports false
// when holder no longer holds it.
func (t *Tx) RenewLease(id string, holder int64, until time.Time) (bool, error) {
	res, err := t.exec(`UPDATE cards SET lease_until = ? WHERE id = ? AND assignee = ? AND open = 1`, ms(until), id, holder)
	if err != nil {
		return false, fmt.Errorf("renew lease on %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// ExpiredLeases lists held open cards whose lease ended before now, the
// longest expired first, at most limit.
func (t *Tx) ExpiredLeases(now time.Time, limit int) ([]*Card, error) {
	return t.cards(`SELECT `+cardCols+` FROM cards WHERE assignee IS NOT NULL AND open = 1 AND lease_until < ?
		ORDER BY lease_until, id LIMIT ?`, ms(now), limit)
}

// ExpireLease puts a card back in its queue if holder still holds it with a
// lease that ended before now. It reports whether it did.
func (t *Tx) ExpireLease(id string, holder int64, now time.Time) (bool, error) {
	res, err := t.exec(`UPDATE cards SET assignee = NULL, lease_until = NULL, updated_at = ?
		WHERE id = ? AND assignee = ? AND open = 1 AND lease_until < ?`, ms(now), id, holder, ms(now))
	if err != nil {
		return false, fmt.Errorf("expire lease on %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// HeldCards lists the open cards who holds, the soonest lease end first.
func (t *Tx) HeldCards(who int64) ([]*Card, error) {
	return t.cards(`SELECT `+cardCols+` FROM cards WHERE assignee = ? AND open = 1 ORDER BY lease_until, id`, who)
}

// Offer states.
const (
	OfferOpen      = "open"
	OfferAccepted  = "accepted"
	OfferPassed    = "passed"
	OfferExpired   = "expired"
	OfferWithdrawn = "withdrawn" // someone else took the card, or it moved on
)

// Offer is a card offered to one volunteer until they accept, pass or the
// window ends.
type Offer struct {
	ID           int64
	Card         string
	Stage        string
	StageEntered time.Time // with Card, names the round
	To           int64
	At           time.Time
	Until        time.Time
	State        string
	Closed       time.Time
}

const offerCols = `id, card_id, stage, stage_entered_at, contact_id, offered_at, expires_at, state, closed_at`

func scanOffer(row rowScanner) (Offer, error) {
	var o Offer
	var entered, at, until int64
	var closed sql.NullInt64
	err := row.Scan(&o.ID, &o.Card, &o.Stage, &entered, &o.To, &at, &until, &o.State, &closed)
	o.StageEntered, o.At, o.Until, o.Closed = fromMS(entered), fromMS(at), fromMS(until), nullMS(closed)
	return o, err
}

func (t *Tx) offers(query string, args ...any) ([]Offer, error) {
	return queryAll(t, query, args, scanOffer)
}

// AddOffer records an open offer. It reports false, changing nothing, when
// the card already has an open offer.
func (t *Tx) AddOffer(o *Offer) (bool, error) {
	o.State = OfferOpen
	err := t.queryRow(`INSERT INTO offers (card_id, stage, stage_entered_at, contact_id, offered_at, expires_at, state)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id`,
		o.Card, o.Stage, ms(o.StageEntered), o.To, ms(o.At), ms(o.Until), o.State).Scan(&o.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("offer %s: %w", o.Card, err)
	}
	return true, nil
}

// OpenOffersTo lists the open offers to who, oldest first.
func (t *Tx) OpenOffersTo(who int64) ([]Offer, error) {
	return t.offers(`SELECT `+offerCols+` FROM offers WHERE contact_id = ? AND state = 'open' ORDER BY offered_at, id`, who)
}

// OpenOfferOn returns the open offer of a card; ErrNotFound if none.
func (t *Tx) OpenOfferOn(card string) (Offer, error) {
	o, err := scanOffer(t.queryRow(`SELECT `+offerCols+` FROM offers WHERE card_id = ? AND state = 'open'`, card))
	if errors.Is(err, sql.ErrNoRows) {
		return Offer{}, ErrNotFound
	}
	return o, err
}

// DueOffers lists open offers whose window ended at or before now, oldest
// first, at most limit.
func (t *Tx) DueOffers(now time.Time, limit int) ([]Offer, error) {
	return t.offers(`SELECT `+offerCols+` FROM offers WHERE state = 'open' AND expires_at <= ? ORDER BY expires_at, id LIMIT ?`, ms(now), limit)
}

// CloseOffer ends an open offer with state. It reports false when the offer
// was no longer open.
func (t *Tx) CloseOffer(id int64, state string, at time.Time) (bool, error) {
	res, err := t.exec(`UPDATE offers SET state = ?, closed_at = ? WHERE id = ? AND state = 'open'`, state, ms(at), id)
	if err != nil {
		return false, fmt.Errorf("close offer %d: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// WithdrawOffers closes the open offers of a card (someone took it, or it
// moved on) and returns them.
func (t *Tx) WithdrawOffers(card string, at time.Time) ([]Offer, error) {
	open, err := t.offers(`SELECT `+offerCols+` FROM offers WHERE card_id = ? AND state = 'open'`, card)
	if err != nil || len(open) == 0 {
		return nil, err
	}
	if _, err := t.exec(`UPDATE offers SET state = ?, closed_at = ? WHERE card_id = ? AND state = 'open'`, OfferWithdrawn, ms(at), card); err != nil {
		return nil, fmt.Errorf("withdraw offers of %s: %w", card, err)
	}
	return open, nil
}

// OfferedInRound lists who has had their chance at card since it entered
// its stage at entered: offered it, whatever they answered, except offers
// withdrawn because someone else took the card first.
func (t *Tx) OfferedInRound(card string, entered time.Time) ([]int64, error) {
	return queryAll(t, `SELECT DISTINCT contact_id FROM offers
		WHERE card_id = ? AND stage_entered_at = ? AND state <> 'withdrawn'`, []any{card, ms(entered)}, func(r rowScanner) (int64, error) {
		var id int64
		err := r.Scan(&id)
		return id, err
	})
}

// WaitingUnoffered lists open cards of a stage that nobody holds and nobody
// is being offered, in queue order, at most limit: what push assignment
// still has to place.
func (t *Tx) WaitingUnoffered(s StageRef, now time.Time, limit int) ([]*Card, error) {
	return t.cards(`SELECT `+cardCols+` FROM cards
		WHERE flow = ? AND stage = ? AND open = 1 AND (assignee IS NULL OR lease_until < ?)
		AND NOT EXISTS (SELECT 1 FROM offers o WHERE o.card_id = cards.id AND o.state = 'open')
		ORDER BY priority DESC, stage_entered_at, id LIMIT ?`, s.Flow, s.Stage, ms(now), limit)
}

// Worker is a contact with roles, and what they have on hand.
type Worker struct {
	Contact   *Contact
	Held      int       // open cards they hold
	Offered   int       // open offers to them
	LastOffer time.Time // when they were last offered a card
	Paused    time.Time // zero unless paused
	PauseNote string
}

// Load is what counts against a volunteer's capacity.
func (w Worker) Load() int { return w.Held + w.Offered }

// Workers lists the contacts having any of roles (with blocked and paused
// ones, which the caller filters), oldest first.
func (t *Tx) Workers(roles []string) ([]Worker, error) {
	if len(roles) == 0 {
		return nil, nil
	}
	var conds []string
	var args []any
	for _, r := range roles {
		conds = append(conds, `(' ' || c.roles || ' ') `+t.like()+` ?`)
		args = append(args, "% "+r+" %")
	}
	rows, err := t.tx.QueryContext(t.ctx, `SELECT `+prefixed("c.", contactCols)+`,
		(SELECT count(*) FROM cards k WHERE k.assignee = c.id AND k.open = 1),
		(SELECT count(*) FROM offers o WHERE o.contact_id = c.id AND o.state = 'open'),
		(SELECT max(o.offered_at) FROM offers o WHERE o.contact_id = c.id),
		v.paused_at, coalesce(v.pause_note, '')
		FROM contacts c LEFT JOIN volunteers v ON v.contact_id = c.id
		WHERE c.roles <> '' AND (`+strings.Join(conds, " OR ")+`) ORDER BY c.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("workers: %w", err)
	}
	return scanAll(rows, func(r rowScanner) (Worker, error) {
		var w Worker
		var last, paused sql.NullInt64
		c, err := scanContact(scanFunc(func(dest ...any) error {
			return r.Scan(append(dest, &w.Held, &w.Offered, &last, &paused, &w.PauseNote)...)
		}))
		if err != nil {
			return w, err
		}
		w.Contact = c
		w.LastOffer, w.Paused = nullMS(last), nullMS(paused)
		return w, nil
	})
}

// SetPaused pauses a volunteer (at not zero) with a note, or resumes them
// (at zero).
func (t *Tx) SetPaused(who int64, at time.Time, note string) error {
	var err error
	if at.IsZero() {
		_, err = t.exec(`UPDATE volunteers SET paused_at = NULL, pause_note = '' WHERE contact_id = ?`, who)
	} else {
		_, err = t.exec(`INSERT INTO volunteers (contact_id, paused_at, pause_note) VALUES (?, ?, ?)
			ON CONFLICT (contact_id) DO UPDATE SET paused_at = excluded.paused_at, pause_note = excluded.pause_note`, who, ms(at), note)
	}
	if err != nil {
		return fmt.Errorf("pause %d: %w", who, err)
	}
	return nil
}

// PausedSince returns when a volunteer paused (zero if they are not) and why.
func (t *Tx) PausedSince(who int64) (time.Time, string, error) {
	var at sql.NullInt64
	var note string
	err := t.queryRow(`SELECT paused_at, pause_note FROM volunteers WHERE contact_id = ?`, who).Scan(&at, &note)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, "", nil
	}
	return nullMS(at), note, err
}

// FindContacts finds people by what others call them: their address on the
// channel (a console name, a phone number), their full name or their first
// name, ignoring case. withRoles keeps only people who have a role. At most
// limit, oldest first.
func (t *Tx) FindContacts(q string, withRoles bool, limit int) ([]*Contact, error) {
	q = strings.TrimSpace(q)
	if q == "" {
		return nil, nil
	}
	esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(q)
	query := `SELECT ` + contactCols + ` FROM contacts
		WHERE (lower(address) = lower(?) OR name ` + t.like() + ` ? ESCAPE '\' OR name ` + t.like() + ` ? ESCAPE '\')`
	if withRoles {
		query += ` AND roles <> ''`
	}
	rows, err := t.tx.QueryContext(t.ctx, query+` ORDER BY id LIMIT ?`, q, esc, esc+" %", limit)
	if err != nil {
		return nil, fmt.Errorf("find %q: %w", q, err)
	}
	out, err := scanAll(rows, scanContact)
	if err != nil {
		return nil, err
	}
	// An exact match of the full name or address wins over first names.
	var exact []*Contact
	for _, c := range out {
		if strings.EqualFold(c.Name, q) || strings.EqualFold(c.Address, q) {
			exact = append(exact, c)
		}
	}
	if len(exact) > 0 {
		return slices.Clip(exact), nil
	}
	return out, nil
}

// SessionUpdated returns when a contact's conversation state last changed
// (zero when there is none): a volunteer answering questions is working.
func (t *Tx) SessionUpdated(contactID int64) (time.Time, error) {
	var at int64
	err := t.queryRow(`SELECT updated_at FROM sessions WHERE contact_id = ?`, contactID).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	return fromMS(at), err
}

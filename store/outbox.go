package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Outbound is one row of the outbox: a message waiting to be sent, or a
// record of one that was.
type Outbound struct {
	ID       int64
	Channel  string
	Address  string
	Body     string // JSON, the runtime's business
	Attempts int
	NextAt   time.Time
}

// Enqueue adds a message to the outbox, in the same transaction as whatever
// caused it, and returns its id.
func (t *Tx) Enqueue(channel, address, body string, at time.Time) (int64, error) {
	var id int64
	err := t.queryRow(`INSERT INTO outbox (channel, address, body, next_at, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id`,
		channel, address, body, ms(at), ms(at)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("enqueue to %s:%s: %w", channel, address, err)
	}
	return id, nil
}

// Due returns pending messages of channel whose time has come, oldest
// first. A message waits while an earlier one to the same chat waits for
// its retry, so a chat hears things in the order they were said, across
// restarts too.
func (s *Store) Due(ctx context.Context, channel string, now time.Time, limit int) ([]Outbound, error) {
	return s.outbound(ctx, `SELECT `+outboundCols+` FROM outbox o
		WHERE status = 'pending' AND channel = ? AND next_at <= ?
		AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.channel = o.channel AND e.address = o.address
			AND e.status = 'pending' AND e.id < o.id AND e.next_at > ?)
		ORDER BY id LIMIT ?`, channel, ms(now), ms(now), limit)
}

const outboundCols = `id, channel, address, body, attempts, next_at`

// outbound reads outbox rows selected as outboundCols.
func (s *Store) outbound(ctx context.Context, query string, args ...any) ([]Outbound, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return scanAll(rows, func(r rowScanner) (Outbound, error) {
		var o Outbound
		var next int64
		err := r.Scan(&o.ID, &o.Channel, &o.Address, &o.Body, &o.Attempts, &next)
		o.NextAt = fromMS(next)
		return o, err
	})
}

// NextDue returns when the earliest pending message of channel is due, or
// the zero time when none is pending.
func (s *Store) NextDue(ctx context.Context, channel string) (time.Time, error) {
	var next sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT min(next_at) FROM outbox WHERE status = 'pending' AND channel = ?`, channel).Scan(&next)
	return nullMS(next), err
}

// MarkSent records that the channel confirmed the message.
func (s *Store) MarkSent(ctx context.Context, id int64, externalID string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE outbox SET status = 'sent', external_id = ?, sent_at = ?, attempts = attempts + 1 WHERE id = ?`,
		externalID, ms(at), id)
	return err
}

// MarkRetry schedules another attempt, by whichever process claims the
// row when it is due.
func (s *Store) MarkRetry(ctx context.Context, id int64, next time.Time, reason string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, next_at = ?, last_error = ?, claimed_by = NULL, claimed_until = NULL WHERE id = ?`, ms(next), reason, id)
	return err
}

// Several processes draining one outbox (PostgreSQL). Before sending a row
// a process claims it; the claim keeps every other process off the row
// until it is marked sent, retried or failed, or the claim runs out, or the
// claimer stops renewing its process lease (ProcessLease: it died). A row
// is claimed only when no earlier pending row of its chat is held by
// another live process or waiting for a retry, so a chat's messages leave
// in order whichever process sends them.

// heldElsewhere is the SQL condition "row o is claimed by another live
// process"; its arguments are holder, now, now.
const heldElsewhere = `(o.claimed_by IS NOT NULL AND o.claimed_by <> ? AND o.claimed_until >= ?
	AND EXISTS (SELECT 1 FROM leases l WHERE l.name = 'process:' || o.claimed_by AND l.expires_at >= ?))`

// blockedChat is "an earlier pending row of o's chat is held by another
// live process, or waits for a retry, or another process sent to the chat
// since the per-chat gap began"; its arguments are holder, now, now, now,
// holder, now - gap.
var blockedChat = `(EXISTS (SELECT 1 FROM outbox e WHERE e.channel = o.channel AND e.address = o.address AND e.status = 'pending'
	AND e.id < o.id AND (` + strings.ReplaceAll(heldElsewhere, "o.", "e.") + ` OR e.next_at > ?))
	OR EXISTS (SELECT 1 FROM outbox s WHERE s.channel = o.channel AND s.address = o.address AND s.status = 'sent'
	AND s.claimed_by <> ? AND s.sent_at > ?))`

// DueFor is Due for the process holder among several: the rows it may
// claim now. chatGap is the platform's least time between two messages to
// one chat: a chat another process sent to more recently waits.
func (s *Store) DueFor(ctx context.Context, channel, holder string, now time.Time, chatGap time.Duration, limit int) ([]Outbound, error) {
	return s.outbound(ctx, `SELECT `+outboundCols+` FROM outbox o
		WHERE status = 'pending' AND channel = ? AND next_at <= ? AND NOT `+heldElsewhere+` AND NOT `+blockedChat+`
		ORDER BY id LIMIT ?`, channel, ms(now), holder, ms(now), ms(now), holder, ms(now), ms(now), ms(now), holder, ms(now.Add(-chatGap)), limit)
}

// NextDueFor is NextDue for the process holder among several: when the
// earliest pending row no other live process holds is due.
func (s *Store) NextDueFor(ctx context.Context, channel, holder string, now time.Time) (time.Time, error) {
	var next sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT min(next_at) FROM outbox o WHERE status = 'pending' AND channel = ? AND NOT `+heldElsewhere,
		channel, holder, ms(now), ms(now)).Scan(&next)
	return nullMS(next), err
}

// ClaimOutbound claims row id for holder until until, unless it was sent,
// another live process holds it or an earlier row of its chat is held or
// waiting. It reports whether holder may send it. Claims are taken one at a
// time under the store's write lock, so two processes never both see a
// chat free.
func (s *Store) ClaimOutbound(ctx context.Context, id int64, holder string, now, until time.Time, chatGap time.Duration) (bool, error) {
	var ok bool
	err := s.Tx(ctx, func(tx *Tx) error {
		res, err := tx.exec(`UPDATE outbox SET claimed_by = ?, claimed_until = ? WHERE id = ? AND status = 'pending'
			AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.id = outbox.id AND (`+heldElsewhere+` OR `+blockedChat+`))`,
			holder, ms(until), id, holder, ms(now), ms(now), holder, ms(now), ms(now), ms(now), holder, ms(now.Add(-chatGap)))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		ok = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("claim outbox %d: %w", id, err)
	}
	return ok, nil
}

// LiveProcesses counts the processes whose process lease (ProcessLease)
// has not run out: they share the platform's send rate.
func (s *Store) LiveProcesses(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM leases WHERE name LIKE 'process:%' AND expires_at >= ?`, ms(now)).Scan(&n)
	return n, err
}

// ReleaseClaims gives up holder's claims on rows it did not send (a clean
// shutdown), so other processes need not wait for them to run out.
func (s *Store) ReleaseClaims(ctx context.Context, holder string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE outbox SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = ? AND status = 'pending'`, holder)
	return err
}

// MarkFailed gives up on a message.
func (s *Store) MarkFailed(ctx context.Context, id int64, reason string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ? WHERE id = ?`, reason, id)
	return err
}

// OutboxCounts returns the pending and failed counts of a channel.
func (s *Store) OutboxCounts(ctx context.Context, channel string) (pending, failed int, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'failed')
		FROM outbox WHERE channel = ?`, channel).Scan(&pending, &failed)
	return pending, failed, err
}

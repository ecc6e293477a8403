package store

import (
	"context"
	"database/sql"
	"fmt"
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

// Due returns pending messages of channel whose time has come, oldest first.
func (s *Store) Due(ctx context.Context, channel string, now time.Time, limit int) ([]Outbound, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, channel, address, body, attempts, next_at FROM outbox
		WHERE status = 'pending' AND channel = ? AND next_at <= ? ORDER BY id LIMIT ?`, channel, ms(now), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Outbound
	for rows.Next() {
		var o Outbound
		var next int64
		if err := rows.Scan(&o.ID, &o.Channel, &o.Address, &o.Body, &o.Attempts, &next); err != nil {
			return nil, err
		}
		o.NextAt = fromMS(next)
		out = append(out, o)
	}
	return out, rows.Err()
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

// MarkRetry schedules another attempt.
func (s *Store) MarkRetry(ctx context.Context, id int64, next time.Time, reason string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE id = ?`, ms(next), reason, id)
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

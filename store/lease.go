package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Leases: several sewa processes on one database (PostgreSQL) agree on
// which of them does a job that must be done by one at a time — polling
// Telegram, running the scheduled jobs, holding the WhatsApp connection.
// The holder renews its lease well before it runs out; when a holder dies,
// its lease runs out and the next process to ask takes it over. Times are
// the callers' clocks: the processes' clocks must agree to well within a
// lease's length (NTP does).

// TakeLease makes holder the holder of the lease called name until now +
// ttl, when nobody else holds it or their lease ran out; a holder renews
// its own lease the same way. It is one statement, so of any number of
// processes asking at once exactly one holds the lease. It reports whether
// holder holds it now.
func (s *Store) TakeLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at < ?`, name, holder, ms(now.Add(ttl)), ms(now))
	if err != nil {
		return false, fmt.Errorf("lease %s: %w", name, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// ReleaseLease gives up holder's lease called name, so that another
// process may take it at once. It does nothing when holder does not hold it.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND holder = ?`, name, holder)
	if err != nil {
		return fmt.Errorf("release lease %s: %w", name, err)
	}
	return nil
}

// LeaseHolder returns who holds the lease called name and until when; ""
// when nobody ever took it.
func (s *Store) LeaseHolder(ctx context.Context, name string) (string, time.Time, error) {
	var holder string
	var until int64
	err := s.db.QueryRowContext(ctx, `SELECT holder, expires_at FROM leases WHERE name = ?`, name).Scan(&holder, &until)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, nil
	}
	return holder, fromMS(until), err
}

// ProcessLease names the lease a running process renews to say it is
// alive; the outbox rows it claimed stay its own only while it is.
func ProcessLease(holder string) string { return "process:" + holder }

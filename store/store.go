// Package store owns Sewa's durable state in SQLite: the schema and its
// migrations, cards and their append-only events, contacts and roles,
// sessions, stage queues, stock, the outbox, channel cursors and the ids of
// inbound messages already handled. It knows nothing about chat.
//
// Everything one inbound message causes is written through one Tx, so it is
// committed or lost as a whole.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrNotFound is returned when a card or contact does not exist.
var ErrNotFound = errors.New("not found")

// ErrNewerSchema means the database was written by a newer Sewa.
var ErrNewerSchema = errors.New("database schema is newer than this program")

// Store is the database handle.
type Store struct {
	db *sql.DB
}

// dsnOptions: WAL for concurrent readers, synchronous=FULL so a commit
// survives power loss, and _txlock=immediate so read-then-write transactions
// wait for the write lock instead of failing with "database is locked".
const dsnOptions = "?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate"

// Open opens (creating if needed) the database file at path and applies
// migrations. It refuses a database written by a newer schema.
func Open(ctx context.Context, path string) (*Store, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
	}
	db, err := sql.Open("sqlite", "file:"+path+dsnOptions)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s := &Store{db: db}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// DB exposes the handle for read-only reports and tests.
func (s *Store) DB() *sql.DB { return s.db }

// Latest is the schema version this program writes: the number of its
// newest migration.
func Latest() int {
	ms, _ := migrationFiles()
	if len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

type migration struct {
	version int
	name    string
}

// migrationFiles lists the embedded migrations in order. Each file is named
// NNNN_what.sql; the number is the schema version it brings.
func migrationFiles() ([]migration, error) {
	entries, err := migrations.ReadDir("migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with its number, e.g. 0002_", e.Name())
		}
		out = append(out, migration{version: v, name: e.Name()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s have the same number", out[i-1].name, out[i].name)
		}
	}
	return out, nil
}

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("schema_version: %w", err)
	}
	files, err := migrationFiles()
	if err != nil {
		return err
	}
	latest := Latest()
	return s.Tx(ctx, func(tx *Tx) error {
		var current int
		err := tx.tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&current)
		if errors.Is(err, sql.ErrNoRows) {
			if _, err := tx.tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		if current > latest {
			return fmt.Errorf("%w: the file is at version %d, this sewa knows up to %d; run a newer sewa", ErrNewerSchema, current, latest)
		}
		for _, m := range files {
			if m.version <= current {
				continue
			}
			body, err := migrations.ReadFile("migrations/" + m.name)
			if err != nil {
				return err
			}
			if _, err := tx.tx.ExecContext(ctx, string(body)); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
		}
		_, err = tx.tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, latest)
		return err
	})
}

// Version returns the schema version of the open database.
func (s *Store) Version(ctx context.Context) (int, error) {
	var v int
	err := s.db.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v)
	return v, err
}

// Tx runs fn in one write transaction, committing when fn returns nil.
func (s *Store) Tx(ctx context.Context, fn func(*Tx) error) (err error) {
	sqlTx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	tx := &Tx{tx: sqlTx, ctx: ctx}
	defer func() {
		if p := recover(); p != nil {
			sqlTx.Rollback()
			panic(p)
		}
	}()
	if err := fn(tx); err != nil {
		sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Tx is one write transaction.
type Tx struct {
	tx  *sql.Tx
	ctx context.Context
}

func (t *Tx) exec(query string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(t.ctx, query, args...)
}

func (t *Tx) queryRow(query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(t.ctx, query, args...)
}

// Savepoint runs fn so that its writes are undone if it fails or panics,
// while the surrounding transaction goes on. The panic is returned as an
// error, so one bad message cannot spoil a batch.
func (t *Tx) Savepoint(name string, fn func() error) (err error) {
	if _, err := t.exec("SAVEPOINT " + name); err != nil {
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
		if err != nil {
			t.exec("ROLLBACK TO " + name)
		}
		t.exec("RELEASE " + name)
	}()
	return fn()
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func nullMS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMS(v.Int64)
}

func optMS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

func optID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// MarkInbound records an inbound message id. It reports false when the id
// was already committed, in which case the message must change nothing.
func (t *Tx) MarkInbound(channel, externalID string, at time.Time) (bool, error) {
	res, err := t.exec(`INSERT INTO inbound (channel, external_id, received_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		channel, externalID, ms(at))
	if err != nil {
		return false, fmt.Errorf("mark inbound %s/%s: %w", channel, externalID, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// KeepFailed records that handling a message failed, keeping its body so a
// coordinator can look at it.
func (t *Tx) KeepFailed(channel, externalID, reason, body string) error {
	_, err := t.exec(`UPDATE inbound SET failed = ?, body = ? WHERE channel = ? AND external_id = ?`, reason, body, channel, externalID)
	return err
}

// SetCursor stores a channel's stream position.
func (t *Tx) SetCursor(name string, value int64) error {
	_, err := t.exec(`INSERT INTO cursors (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
	return err
}

// Cursor returns a channel's stored stream position (0 when none).
func (s *Store) Cursor(ctx context.Context, name string) (int64, error) {
	var v int64
	err := s.db.QueryRowContext(ctx, `SELECT value FROM cursors WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

// splitRoles and joinRoles keep roles as a space-separated column.
func splitRoles(s string) []string { return strings.Fields(s) }

func joinRoles(roles []string) string {
	seen := map[string]bool{}
	var out []string
	for _, r := range roles {
		r = strings.ToLower(strings.TrimSpace(r))
		if r != "" && !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// Package store owns Sewa's durable state in SQLite (or PostgreSQL, see
// dialect.go): the schema and its
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
	db  *sql.DB
	pg  bool  // PostgreSQL rather than SQLite (dialect.go)
	run *hold // PostgreSQL: this process's share of the running lock
}

// dsnOptions: WAL for concurrent readers, synchronous=FULL so a commit
// survives power loss, and _txlock=immediate so read-then-write transactions
// wait for the write lock instead of failing with "database is locked".
const dsnOptions = "?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate"

// Open opens (creating if needed) the database file at path and applies
// migrations. It refuses a database written by a newer schema. A
// postgres:// URL opens PostgreSQL instead (OpenWith).
func Open(ctx context.Context, path string) (*Store, error) {
	return OpenWith(ctx, path, OpenOptions{})
}

// OpenOptions say how Open treats a schema older than this program.
type OpenOptions struct {
	// NoMigrate refuses an older schema with ErrNeedsMigration instead of
	// migrating it (PostgreSQL processes may be told to leave migrations to
	// `sewa migrate`).
	NoMigrate bool
}

// OpenWith opens the SQLite file or PostgreSQL database named by dsn. On
// PostgreSQL the store holds a shared advisory lock for its life; an older
// schema is migrated only when no other sewa holds it (else
// ErrInUseByOthers: run `sewa migrate` once they are stopped).
func OpenWith(ctx context.Context, path string, opt OpenOptions) (*Store, error) {
	if IsPostgres(path) {
		return openPG(ctx, path, opt)
	}
	db, err := openSQLite(path)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db}
	if opt.NoMigrate {
		if err := s.checkVersion(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		return s, nil
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return s, nil
}

// openSQLite opens the database file at path, creating its directory.
func openSQLite(path string) (*sql.DB, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
	}
	db, err := sql.Open("sqlite", "file:"+path+dsnOptions)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}

// Close closes the database (and, on PostgreSQL, lets go of the running
// lock).
func (s *Store) Close() error {
	s.run.close()
	return s.db.Close()
}

// DB exposes the handle for read-only reports and tests.
func (s *Store) DB() *sql.DB { return s.db }

// Latest is the schema version this program writes: the number of its
// newest migration.
func Latest() int {
	ms, _ := migrationFiles(false)
	if len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

type migration struct {
	version int
	name    string
	shared  bool // one file for both databases
}

// migrationFiles lists the embedded migrations of one database (SQLite, or
// PostgreSQL when pg) in order. Each file is named NNNN_what.sql, and the
// number is the schema version it brings. Where the databases truly differ
// a version has two files instead, NNNN_what.sqlite.sql and
// NNNN_what.postgres.sql; a shared file is read on PostgreSQL through
// forPostgres (64-bit integers, identity keys, bytea, bytewise text).
func migrationFiles(pg bool) ([]migration, error) {
	entries, err := migrations.ReadDir("migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	versions := map[int]map[string]string{} // version → dialect → file
	for _, e := range entries {
		num, rest, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with its number, e.g. 0002_", e.Name())
		}
		dialect := ""
		switch {
		case strings.HasSuffix(rest, ".sqlite.sql"):
			dialect = "sqlite"
		case strings.HasSuffix(rest, ".postgres.sql"):
			dialect = "postgres"
		}
		if versions[v] == nil {
			versions[v] = map[string]string{}
		}
		if other, dup := versions[v][dialect]; dup {
			return nil, fmt.Errorf("migrations %s and %s have the same number", other, e.Name())
		}
		versions[v][dialect] = e.Name()
		if dialect == "" || (dialect == "postgres") == pg {
			out = append(out, migration{version: v, name: e.Name(), shared: dialect == ""})
		}
	}
	for v, files := range versions {
		_, shared := files[""]
		_, lite := files["sqlite"]
		_, post := files["postgres"]
		if shared && (lite || post) || !shared && lite != post {
			return nil, fmt.Errorf("migration %04d: either one NNNN_name.sql, or both a .sqlite.sql and a .postgres.sql file (have %v)", v, files)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// migrationBody returns the SQL of m for this store's database.
func (s *Store) migrationBody(m migration) (string, error) {
	body, err := migrations.ReadFile("migrations/" + m.name)
	if err != nil {
		return "", err
	}
	if s.pg && m.shared {
		return forPostgres(string(body)), nil
	}
	return string(body), nil
}

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("schema_version: %w", err)
	}
	files, err := migrationFiles(s.pg)
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
			return fmt.Errorf("%w: the database is at version %d, this sewa knows up to %d; run a newer sewa", ErrNewerSchema, current, latest)
		}
		for _, m := range files {
			if m.version <= current {
				continue
			}
			body, err := s.migrationBody(m)
			if err != nil {
				return err
			}
			if _, err := tx.tx.ExecContext(ctx, body); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
		}
		_, err = tx.tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, latest)
		return err
	})
}

// checkVersion refuses a schema this program does not know, or one that
// needs migrating (ErrNeedsMigration).
func (s *Store) checkVersion(ctx context.Context) error {
	current, err := s.storedVersion(ctx)
	if err != nil {
		return err
	}
	switch latest := Latest(); {
	case current > latest:
		return fmt.Errorf("%w: the database is at version %d, this sewa knows up to %d; run a newer sewa", ErrNewerSchema, current, latest)
	case current < latest:
		return fmt.Errorf("%w: the database is at version %d, this sewa needs %d; run `sewa migrate`", ErrNeedsMigration, current, latest)
	}
	return nil
}

// storedVersion reads the schema version, 0 for an empty database.
func (s *Store) storedVersion(ctx context.Context) (int, error) {
	var exists bool
	q := `SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'`
	if s.pg {
		q = `SELECT to_regclass('schema_version') IS NOT NULL`
	}
	if err := s.db.QueryRowContext(ctx, q).Scan(&exists); err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var v int
	err := s.db.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

// Version returns the schema version of the open database.
func (s *Store) Version(ctx context.Context) (int, error) {
	var v int
	err := s.db.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v)
	return v, err
}

// Tx runs fn in one write transaction, committing when fn returns nil.
// On PostgreSQL the transaction first takes the write lock (dialect.go), and
// one that fails with a deadlock or serialization failure is run again, so
// fn must act only through tx (as everything in Sewa does: sends happen
// after the commit).
func (s *Store) Tx(ctx context.Context, fn func(*Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := s.tx(ctx, fn)
		if !s.pg || attempt == 3 || !retryable(err) || ctx.Err() != nil {
			return err
		}
	}
}

func (s *Store) tx(ctx context.Context, fn func(*Tx) error) (err error) {
	sqlTx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	tx := &Tx{tx: sqlTx, ctx: ctx, pg: s.pg}
	if s.pg {
		if _, err := sqlTx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?)`, writeLockKey); err != nil {
			sqlTx.Rollback()
			return fmt.Errorf("write lock: %w", err)
		}
	}
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
	pg  bool
}

func (t *Tx) exec(query string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(t.ctx, query, args...)
}

func (t *Tx) queryRow(query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(t.ctx, query, args...)
}

// rowScanner is a row to scan: *sql.Row, *sql.Rows or a scanFunc.
type rowScanner interface{ Scan(dest ...any) error }

// queryAll runs query in t and scans every row it returns with scan. A
// failed query is returned as it is; callers that wrap it use scanAll.
func queryAll[T any](t *Tx, query string, args []any, scan func(rowScanner) (T, error)) ([]T, error) {
	rows, err := t.tx.QueryContext(t.ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return scanAll(rows, scan)
}

// scanAll scans every row of rows with scan, in order, and closes rows. It
// stops at the first row that fails to scan.
func scanAll[T any](rows *sql.Rows, scan func(rowScanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
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

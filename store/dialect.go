package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// Two databases speak the same store. SQLite (a file path in SEWA_DB) is
// the embedded default; PostgreSQL (a postgres:// or postgresql:// URL) is
// for a group that has outgrown one machine, with any number of sewa
// processes on one database.
//
// The queries are written once, in the SQL both understand, with `?`
// placeholders: on PostgreSQL the connection rewrites them to $1, $2, …
// (rebind), and the schema gives PostgreSQL the few SQLite functions the
// queries use (json_extract of a top-level key, instr), so that no query
// has two spellings. Where the two truly differ a method of Tx or Store
// chooses (the search index, sums of numbers kept as text, case-insensitive
// LIKE), and the migrations have a .sqlite.sql and a .postgres.sql file
// (see migrationFiles).
//
// Writes: SQLite lets one transaction write at a time (_txlock=immediate).
// On PostgreSQL every Store.Tx takes one transaction-scoped advisory lock
// first (writeLockKey), so write transactions from all processes run one
// after another exactly as on SQLite, and every read-then-write in a Tx
// (claims, stock, receipt numbers, sessions) keeps the meaning it has on
// SQLite. Reads outside a Tx (the outbox, cursors, /status) do not take it.

// IsPostgres reports whether dsn names a PostgreSQL database rather than a
// SQLite file.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Advisory lock keys (per database on PostgreSQL).
const (
	// writeLockKey is taken by every Store.Tx: one writer at a time.
	writeLockKey = 0x5e3a_0001
	// runningLockKey is held shared by every open Store for its life, and
	// exclusively by a migration: a schema is never changed under a
	// running sewa.
	runningLockKey = 0x5e3a_0002
)

// ErrInUseByOthers means the PostgreSQL schema needs a migration while
// other sewa processes are using the database.
var ErrInUseByOthers = errors.New("other sewa processes are using this database")

// ErrNeedsMigration means the database is older than this program and
// Open was asked not to migrate it.
var ErrNeedsMigration = errors.New("database schema is older than this program")

// Postgres reports whether the store is on PostgreSQL.
func (s *Store) Postgres() bool { return s.pg }

// Postgres reports whether the transaction is on PostgreSQL.
func (t *Tx) Postgres() bool { return t.pg }

// openPostgres connects to dsn through pgx's database/sql driver, with ?
// placeholders rebound.
func openPostgres(dsn string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres url: %w", err)
	}
	db := sql.OpenDB(rebindConnector{stdlib.GetConnector(*cfg)})
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(8)
	return db, nil
}

// RedactURL shows a database URL without its password, for messages.
func RedactURL(dsn string) string {
	if !IsPostgres(dsn) {
		return dsn
	}
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return "postgres://…"
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
}

// hold keeps PostgreSQL's running lock for the life of the store: shared
// normally, exclusive while migrating.
type hold struct {
	conn *sql.Conn
}

// holdRunning takes the shared running lock on a connection of its own,
// waiting while a migration holds it exclusively.
func holdRunning(ctx context.Context, db *sql.DB) (*hold, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock_shared(?)`, runningLockKey); err != nil {
		conn.Close()
		return nil, fmt.Errorf("running lock: %w", err)
	}
	return &hold{conn: conn}, nil
}

// tryExclusive takes the running lock exclusively on a connection of its
// own, without waiting: false when any other sewa holds it.
func tryExclusive(ctx context.Context, db *sql.DB) (*hold, bool, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, false, err
	}
	var ok bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock(?)`, runningLockKey).Scan(&ok); err != nil {
		conn.Close()
		return nil, false, fmt.Errorf("migration lock: %w", err)
	}
	if !ok {
		conn.Close()
		return nil, false, nil
	}
	return &hold{conn: conn}, true, nil
}

// close ends the session that holds the lock, which releases it.
func (h *hold) close() error {
	if h == nil || h.conn == nil {
		return nil
	}
	// Never hand a connection holding a session lock back to the pool.
	h.conn.Raw(func(any) error { return driver.ErrBadConn })
	return h.conn.Close()
}

// pgTranslations turn a migration shared by both databases into
// PostgreSQL's types: rowid keys become identity columns, integers 64-bit
// (times are unix milliseconds), BLOB bytea, and text compares bytewise
// (COLLATE "C") as in SQLite, whatever the database's locale.
var pgTranslations = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\bINTEGER PRIMARY KEY\b`), "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"},
	{regexp.MustCompile(`\bINTEGER\b`), "BIGINT"},
	{regexp.MustCompile(`\bBLOB\b`), "BYTEA"},
	{regexp.MustCompile(`\bWITHOUT ROWID\b`), ""},
	{regexp.MustCompile(`(\w\s+)TEXT\b`), `${1}TEXT COLLATE "C"`},
}

// forPostgres translates a shared migration for PostgreSQL.
func forPostgres(body string) string {
	for _, t := range pgTranslations {
		body = t.re.ReplaceAllString(body, t.with)
	}
	// A cast names a type, not a column: no collation there.
	return strings.ReplaceAll(body, ` AS TEXT COLLATE "C"`, ` AS TEXT`)
}

// hundredths is the SQL of a number kept as text (a JSON field) in
// hundredths, as SQLite's CAST(round(CAST(x AS REAL) * 100) AS INTEGER)
// computes it; PostgreSQL has the same arithmetic as sewa_hundredths
// (migration 0003).
func (t *Tx) hundredths(expr string) string {
	if t.pg {
		return "sewa_hundredths(" + expr + ")"
	}
	return "CAST(round(CAST(" + expr + " AS REAL) * 100) AS INTEGER)"
}

// like is LIKE as SQLite means it: ASCII letters match either case.
func (t *Tx) like() string {
	if t.pg {
		return "ILIKE"
	}
	return "LIKE"
}

// keepGoing runs a write whose failure the caller may handle and then go
// on with the transaction, as SQLite allows (a failed statement undoes only
// itself). PostgreSQL spoils the whole transaction on an error, so there
// the statement runs under a savepoint of its own.
func (t *Tx) keepGoing(query string, args ...any) (sql.Result, error) {
	if !t.pg {
		return t.exec(query, args...)
	}
	if _, err := t.exec(`SAVEPOINT keep_going`); err != nil {
		return nil, err
	}
	res, err := t.exec(query, args...)
	if err != nil {
		if _, rerr := t.exec(`ROLLBACK TO SAVEPOINT keep_going`); rerr != nil {
			return nil, errors.Join(err, rerr)
		}
	}
	if _, rerr := t.exec(`RELEASE SAVEPOINT keep_going`); rerr != nil && err == nil {
		return nil, rerr
	}
	return res, err
}

// rebindConnector makes connections that accept ? placeholders.
type rebindConnector struct{ driver.Connector }

func (c rebindConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &rebindConn{conn: conn}, nil
}

// rebindConn passes everything to pgx's connection, rewriting placeholders.
type rebindConn struct{ conn driver.Conn }

// Unwrap returns pgx's connection (for COPY).
func (c *rebindConn) Unwrap() driver.Conn { return c.conn }

func (c *rebindConn) Prepare(query string) (driver.Stmt, error) { return c.conn.Prepare(rebind(query)) }
func (c *rebindConn) Close() error                              { return c.conn.Close() }

//lint:ignore SA1019 driver.Conn requires Begin; database/sql calls BeginTx.
func (c *rebindConn) Begin() (driver.Tx, error) { return c.conn.Begin() }

func (c *rebindConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.conn.(driver.ConnPrepareContext).PrepareContext(ctx, rebind(query))
}

func (c *rebindConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

func (c *rebindConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if len(args) > 0 {
		query = rebind(query)
	}
	return c.conn.(driver.ExecerContext).ExecContext(ctx, query, args)
}

func (c *rebindConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if len(args) > 0 {
		query = rebind(query)
	}
	return c.conn.(driver.QueryerContext).QueryContext(ctx, query, args)
}

func (c *rebindConn) Ping(ctx context.Context) error { return c.conn.(driver.Pinger).Ping(ctx) }

// CheckNamedValue also stores a Go bool as 1 or 0, as SQLite does: the
// schema has no boolean columns (open is an integer on both databases).
func (c *rebindConn) CheckNamedValue(v *driver.NamedValue) error {
	if b, ok := v.Value.(bool); ok {
		v.Value = int64(0)
		if b {
			v.Value = int64(1)
		}
		return nil
	}
	return c.conn.(driver.NamedValueChecker).CheckNamedValue(v)
}

func (c *rebindConn) ResetSession(ctx context.Context) error {
	return c.conn.(driver.SessionResetter).ResetSession(ctx)
}

// rebind rewrites ? placeholders as $1, $2, … outside quoted strings,
// quoted names and comments. A query without arguments is sent as it is
// (migrations contain $$-quoted function bodies).
func rebind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'' || c == '"':
			j := strings.IndexByte(q[i+1:], c)
			if j < 0 {
				b.WriteString(q[i:])
				return b.String()
			}
			b.WriteString(q[i : i+j+2])
			i += j + 1
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				b.WriteString(q[i:])
				return b.String()
			}
			b.WriteString(q[i : i+j+1])
			i += j
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			j := strings.Index(q[i+2:], "*/")
			if j < 0 {
				b.WriteString(q[i:])
				return b.String()
			}
			b.WriteString(q[i : i+j+4])
			i += j + 3
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// retryable reports whether a PostgreSQL error means "try the transaction
// again": a serialization failure or a deadlock.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

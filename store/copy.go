package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Moving a group from SQLite to PostgreSQL: Copy reads every table of a
// SQLite store and writes it into an empty PostgreSQL store of the same
// schema version, in one PostgreSQL transaction, then checks that every
// table has as many rows on both sides.
//
// The aggregates the triggers keep (stage_counts, move_tally, stock_levels)
// are copied as they are, with the triggers off during the copy, so that
// they stay exactly what SQLite's triggers made them; the /find index is
// rebuilt from the cards (its SQLite form, FTS5, has no PostgreSQL twin).
// Identity columns are then moved past the largest id copied.

// CopyTable is one table copied.
type CopyTable struct {
	Name string
	Rows int64
}

// ErrNotEmpty means the PostgreSQL database already holds a group's data.
var ErrNotEmpty = errors.New("the target database is not empty")

// CopyTo copies this (SQLite) store into dst (PostgreSQL), which must be
// empty and at the same schema version. progress, if not nil, hears of
// each table when it is done.
func (s *Store) CopyTo(ctx context.Context, dst *Store, progress func(CopyTable)) ([]CopyTable, error) {
	if s.pg || !dst.pg {
		return nil, errors.New("copy: from a SQLite file to a PostgreSQL database only")
	}
	sv, err := s.Version(ctx)
	if err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	dv, err := dst.Version(ctx)
	if err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	if sv != dv {
		return nil, fmt.Errorf("copy: the file is at schema version %d and the database at %d", sv, dv)
	}
	tables, err := dst.copyOrder(ctx)
	if err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	conn, err := dst.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var done []CopyTable
	err = conn.Raw(func(dc any) error {
		rc, ok := dc.(*rebindConn)
		if !ok {
			return fmt.Errorf("copy: unexpected connection %T", dc)
		}
		pc := rc.Unwrap().(*stdlib.Conn).Conn()
		tx, err := pc.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(context.WithoutCancel(ctx))
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, writeLockKey); err != nil {
			return err
		}
		for _, t := range tables {
			var n int64
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{t.name}.Sanitize()).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return fmt.Errorf("%w: %s has %d rows; copy into a new, empty database", ErrNotEmpty, t.name, n)
			}
		}
		for _, t := range tables {
			if _, err := tx.Exec(ctx, `ALTER TABLE `+pgx.Identifier{t.name}.Sanitize()+` DISABLE TRIGGER USER`); err != nil {
				return err
			}
		}
		for _, t := range tables {
			n, err := s.copyTable(ctx, tx, t)
			if err != nil {
				return fmt.Errorf("copy %s: %w", t.name, err)
			}
			var src int64
			if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM `+t.name).Scan(&src); err != nil {
				return fmt.Errorf("count %s: %w", t.name, err)
			}
			var got int64
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{t.name}.Sanitize()).Scan(&got); err != nil {
				return err
			}
			if got != src || n != src {
				return fmt.Errorf("copy %s: %d rows in the file, %d written, %d in the database", t.name, src, n, got)
			}
			ct := CopyTable{Name: t.name, Rows: got}
			done = append(done, ct)
			if progress != nil {
				progress(ct)
			}
		}
		for _, t := range tables {
			if _, err := tx.Exec(ctx, `ALTER TABLE `+pgx.Identifier{t.name}.Sanitize()+` ENABLE TRIGGER USER`); err != nil {
				return err
			}
		}
		// The search index, from the cards (as migration 0003 fills it).
		if _, err := tx.Exec(ctx, `INSERT INTO card_search (rowid, card_id, body)
			SELECT sewa_card_rank(id), id, sewa_search_body(fields) FROM cards`); err != nil {
			return fmt.Errorf("search index: %w", err)
		}
		var cards, indexed int64
		if err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM cards), (SELECT count(*) FROM card_search)`).Scan(&cards, &indexed); err != nil {
			return err
		}
		if cards != indexed {
			return fmt.Errorf("search index: %d entries for %d cards", indexed, cards)
		}
		done = append(done, CopyTable{Name: "card_search", Rows: indexed})
		if err := advanceIdentities(ctx, tx); err != nil {
			return err
		}
		return tx.Commit(ctx)
	})
	if err != nil {
		return nil, err
	}
	return done, nil
}

type copyTableDef struct {
	name  string
	cols  []string
	types []string // PostgreSQL data_type of each column
}

// copyOrder lists the tables to copy, each after the tables it refers to.
func (s *Store) copyOrder(ctx context.Context) ([]copyTableDef, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c
		JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'
		WHERE c.table_schema = current_schema() AND c.table_name NOT IN ('schema_version', 'card_search')
		ORDER BY c.table_name, c.ordinal_position`)
	if err != nil {
		return nil, err
	}
	byName := map[string]*copyTableDef{}
	var names []string
	for rows.Next() {
		var table, col, typ string
		if err := rows.Scan(&table, &col, &typ); err != nil {
			rows.Close()
			return nil, err
		}
		t, ok := byName[table]
		if !ok {
			t = &copyTableDef{name: table}
			byName[table] = t
			names = append(names, table)
		}
		t.cols = append(t.cols, col)
		t.types = append(t.types, typ)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	deps := map[string][]string{}
	rows, err = s.db.QueryContext(ctx, `SELECT DISTINCT c.conrelid::regclass::text, c.confrelid::regclass::text FROM pg_constraint c
		WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var from, to string
		if err := rows.Scan(&from, &to); err != nil {
			rows.Close()
			return nil, err
		}
		if from != to {
			deps[from] = append(deps[from], to)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []copyTableDef
	placed := map[string]bool{}
	var place func(name string, path []string) error
	place = func(name string, path []string) error {
		if placed[name] {
			return nil
		}
		if slices.Contains(path, name) {
			return fmt.Errorf("tables refer to each other in a cycle: %v", append(path, name))
		}
		for _, d := range deps[name] {
			if err := place(d, append(path, name)); err != nil {
				return err
			}
		}
		if t, ok := byName[name]; ok {
			out = append(out, *t)
		}
		placed[name] = true
		return nil
	}
	for _, n := range names {
		if err := place(n, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// copyTable streams one table from SQLite into PostgreSQL with COPY.
func (s *Store) copyTable(ctx context.Context, tx pgx.Tx, t copyTableDef) (int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+strings.Join(t.cols, ", ")+` FROM `+t.name)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	vals := make([]any, len(t.cols))
	ptrs := make([]any, len(t.cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if !rows.Next() {
			return nil, rows.Err()
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out := make([]any, len(vals))
		for i, v := range vals {
			c, err := pgValue(v, t.types[i])
			if err != nil {
				return nil, fmt.Errorf("%s.%s: %w", t.name, t.cols[i], err)
			}
			out[i] = c
		}
		return out, nil
	})
	return tx.CopyFrom(ctx, pgx.Identifier{t.name}, t.cols, src)
}

// pgValue converts a value as SQLite stores it to the column's PostgreSQL
// type (SQLite keeps whatever it was given; PostgreSQL's COPY is strict).
func pgValue(v any, typ string) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch typ {
	case "bigint", "integer", "smallint":
		switch x := v.(type) {
		case int64:
			return x, nil
		case float64:
			return int64(x), nil
		case bool:
			if x {
				return int64(1), nil
			}
			return int64(0), nil
		case string:
			return strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		case []byte:
			return strconv.ParseInt(strings.TrimSpace(string(x)), 10, 64)
		}
	case "text", "character varying":
		switch x := v.(type) {
		case string:
			return x, nil
		case []byte:
			return string(x), nil
		case int64:
			return strconv.FormatInt(x, 10), nil
		case float64:
			return strconv.FormatFloat(x, 'g', -1, 64), nil
		}
	case "bytea":
		switch x := v.(type) {
		case []byte:
			return x, nil
		case string:
			return []byte(x), nil
		}
	case "double precision", "real", "numeric":
		switch x := v.(type) {
		case float64:
			return x, nil
		case int64:
			return float64(x), nil
		case string:
			return strconv.ParseFloat(x, 64)
		}
	default:
		return v, nil
	}
	return nil, fmt.Errorf("cannot store %T %v as %s", v, v, typ)
}

// advanceIdentities moves every identity column's sequence past the
// largest value copied, so the next row gets a new id.
func advanceIdentities(ctx context.Context, tx pgx.Tx) error {
	rows, err := tx.Query(ctx, `SELECT table_name, column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND is_identity = 'YES'`)
	if err != nil {
		return err
	}
	var cols [][2]string
	for rows.Next() {
		var t, c string
		if err := rows.Scan(&t, &c); err != nil {
			rows.Close()
			return err
		}
		cols = append(cols, [2]string{t, c})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, tc := range cols {
		table, col := pgx.Identifier{tc[0]}.Sanitize(), pgx.Identifier{tc[1]}.Sanitize()
		_, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence($1, $2), coalesce((SELECT max(`+col+`) FROM `+table+`), 0) + 1, false)`,
			table, tc[1])
		if err != nil {
			return fmt.Errorf("advance %s.%s: %w", tc[0], tc[1], err)
		}
	}
	return nil
}

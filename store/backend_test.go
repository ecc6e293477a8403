package store_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"sewa/internal/pgtest"
	"sewa/store"
)

// The store's tests run on both databases: each Test function hands its
// body to eachBackend, which runs it as the subtest "sqlite" and, when
// SEWA_TEST_POSTGRES names a server, again as "postgres". The helpers that
// open stores (open, boardStore) ask dsnFor where to: a SQLite file, or a
// fresh PostgreSQL database per path, so two stores opened on one path
// share a database as two processes would.

// backendEnv is set to "postgres" for the duration of a postgres subtest.
const backendEnv = "SEWA_TEST_BACKEND"

func eachBackend(t *testing.T, body func(t *testing.T)) {
	t.Helper()
	t.Run("sqlite", body)
	if _, ok := pgtest.URL(t); !ok {
		return
	}
	t.Run("postgres", func(t *testing.T) {
		t.Setenv(backendEnv, "postgres")
		body(t)
	})
}

// dsnFor returns where a test's store at path lives on the backend of the
// running subtest.
func dsnFor(t testing.TB, path string) string {
	t.Helper()
	if os.Getenv(backendEnv) != "postgres" {
		return path
	}
	return pgtest.Fresh(t, path)
}

func onPostgres() bool { return os.Getenv(backendEnv) == "postgres" }

func dialectOf(st *store.Store) string {
	if st.Postgres() {
		return "postgres"
	}
	return "sqlite"
}

// queryPlan returns how the database would run q: SQLite's EXPLAIN QUERY
// PLAN, or PostgreSQL's EXPLAIN with sequential scans discouraged (a test's
// tables are too small for the planner to bother with an index otherwise).
func queryPlan(t *testing.T, st *store.Store, q string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := st.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if !st.Postgres() {
		var plan string
		if err := conn.QueryRowContext(ctx, `EXPLAIN QUERY PLAN `+q).Scan(new(int), new(int), new(int), &plan); err != nil {
			t.Fatal(err)
		}
		return plan
	}
	if _, err := conn.ExecContext(ctx, `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(ctx, `RESET enable_seqscan`)
	rows, err := conn.QueryContext(ctx, `EXPLAIN `+q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}

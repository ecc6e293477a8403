// Package pgtest gives tests a PostgreSQL database of their own on the
// server named by SEWA_TEST_POSTGRES (.ci/run starts one and sets it).
//
// Without the variable, tests that take a backend from here run on SQLite
// only and say so in the log; in CI (CI set) they fail instead, so a
// missing server never passes for a green run.
package pgtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Env names the server: a postgres:// URL of a role that may create
// databases.
const Env = "SEWA_TEST_POSTGRES"

// URL returns the server's URL. Without one it fails t in CI, and
// elsewhere logs that the test ran without PostgreSQL and returns false.
func URL(t testing.TB) (string, bool) {
	t.Helper()
	u := os.Getenv(Env)
	if u != "" {
		return u, true
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not set in CI: the PostgreSQL half of this test cannot run (.ci/run starts a server and sets it)", Env)
	}
	t.Logf("%s is not set: ran on SQLite only", Env)
	return "", false
}

// Fresh returns the URL of a database for key (a test's temporary path,
// say) on the server, creating it empty on first use; it is dropped when
// the test ends. The same key gives the same database, so two stores
// opened on one key share it as two processes would.
func Fresh(t testing.TB, key string) string {
	t.Helper()
	base, ok := URL(t)
	if !ok {
		t.Fatal("pgtest.Fresh without a server")
	}
	// The process id keeps a database left by an earlier, killed run
	// from being taken for this run's.
	sum := sha256.Sum256([]byte(key + "\x00" + strconv.Itoa(os.Getpid())))
	name := "sewa_t_" + hex.EncodeToString(sum[:10])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", Env, err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize())
	var pe *pgconn.PgError
	if err != nil && !(errors.As(err, &pe) && pe.Code == "42P04") { // 42P04: exists (a second open)
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() { drop(t, base, name) })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func drop(t testing.TB, base, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Logf("drop %s: %v", name, err)
		return
	}
	defer conn.Close(ctx)
	// A process the test killed may still have a session that the server
	// has not noticed is gone: try again for a while.
	for try := 1; ; try++ {
		_, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`)
		if err == nil {
			return
		}
		if try == 10 {
			t.Logf("drop %s: %v", name, err)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

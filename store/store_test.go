package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"sewa/store"
)

func open(t testing.TB, path string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), dsnFor(t, path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// tx runs fn in one transaction and fails the test on error.
func tx(t testing.TB, st *store.Store, fn func(tx *store.Tx) error) {
	t.Helper()
	if err := st.Tx(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func TestMigrationsOpenReopenRefuseNewer(t *testing.T) {
	eachBackend(t, testMigrationsOpenReopenRefuseNewer)
}

func testMigrationsOpenReopenRefuseNewer(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "nested", "sewa.db")
	st, err := store.Open(ctx, dsnFor(t, path))
	if err != nil {
		t.Fatalf("open empty file: %v", err)
	}
	v, err := st.Version(ctx)
	if err != nil || v != store.Latest() || v < 1 {
		t.Fatalf("version = %d, %v; want %d", v, err, store.Latest())
	}
	st.Close()

	st = open(t, path) // reopening applies nothing and keeps the version
	if v2, _ := st.Version(ctx); v2 != v {
		t.Fatalf("reopened at version %d, want %d", v2, v)
	}
	if _, err := st.DB().ExecContext(ctx, `UPDATE schema_version SET version = version + 1`); err != nil {
		t.Fatal(err)
	}
	st.Close()

	_, err = store.Open(ctx, dsnFor(t, path))
	if !errors.Is(err, store.ErrNewerSchema) {
		t.Fatalf("open newer schema: err = %v, want ErrNewerSchema", err)
	}
}

func TestInboundIsIdempotent(t *testing.T) { eachBackend(t, testInboundIsIdempotent) }

func testInboundIsIdempotent(t *testing.T) {
	st := open(t, filepath.Join(t.TempDir(), "sewa.db"))
	ctx := context.Background()
	now := time.Date(2026, 4, 2, 10, 0, 0, 0, time.UTC)
	var fresh []bool
	for range 2 {
		err := st.Tx(ctx, func(tx *store.Tx) error {
			ok, err := tx.MarkInbound("tg", "42", now)
			fresh = append(fresh, ok)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if !fresh[0] || fresh[1] {
		t.Fatalf("fresh = %v, want [true false]", fresh)
	}
}

func TestRolledBackTxLeavesNothing(t *testing.T) { eachBackend(t, testRolledBackTxLeavesNothing) }

func testRolledBackTxLeavesNothing(t *testing.T) {
	st := open(t, filepath.Join(t.TempDir(), "sewa.db"))
	ctx := context.Background()
	boom := errors.New("boom")
	err := st.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.MarkInbound("tg", "1", time.Now()); err != nil {
			return err
		}
		c := &store.Card{Flow: "request", Stage: "validate", Created: time.Now(), Updated: time.Now(), StageEntered: time.Now()}
		if err := tx.NewCard("R", c); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	var cards, inbound int
	st.DB().QueryRow(`SELECT count(*) FROM cards`).Scan(&cards)
	st.DB().QueryRow(`SELECT count(*) FROM inbound`).Scan(&inbound)
	if cards != 0 || inbound != 0 {
		t.Fatalf("after rollback: %d cards, %d inbound ids", cards, inbound)
	}
}

// Card ids come from one sequence per prefix: concurrent creators never
// share or skip a number.
func TestCardIDsUniqueUnderConcurrency(t *testing.T) {
	eachBackend(t, testCardIDsUniqueUnderConcurrency)
}

func testCardIDsUniqueUnderConcurrency(t *testing.T) {
	st := open(t, filepath.Join(t.TempDir(), "sewa.db"))
	ctx := context.Background()
	const n = 40
	ids := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			err := st.Tx(ctx, func(tx *store.Tx) error {
				now := time.Now()
				c := &store.Card{Flow: "request", Stage: "validate", Created: now, Updated: now, StageEntered: now}
				if err := tx.NewCard("R", c); err != nil {
					return err
				}
				ids <- c.ID
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		if seen[id] {
			t.Fatalf("id %s twice", id)
		}
		seen[id] = true
	}
	for i := 1; i <= n; i++ {
		if id := "R-" + strconv.Itoa(i); !seen[id] {
			t.Fatalf("missing %s", id)
		}
	}
}

// A chat's later messages wait while an earlier one waits for its retry,
// even when a fresh process reads the outbox; other chats go on.
func TestDueKeepsEachChatInOrder(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		st := open(t, filepath.Join(t.TempDir(), "sewa.db"))
		ctx := context.Background()
		now := time.Date(2026, 4, 2, 10, 0, 0, 0, time.UTC)
		var ids []int64
		err := st.Tx(ctx, func(tx *store.Tx) error {
			for _, to := range []string{"x", "x", "y"} {
				id, err := tx.Enqueue("tg", to, `{"text":"hi"}`, now)
				if err != nil {
					return err
				}
				ids = append(ids, id)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.MarkRetry(ctx, ids[0], now.Add(time.Minute), "502"); err != nil {
			t.Fatal(err)
		}
		due, err := st.Due(ctx, "tg", now, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(due) != 1 || due[0].ID != ids[2] {
			t.Fatalf("due = %+v; want only chat y's message %d", due, ids[2])
		}
		due, _ = st.Due(ctx, "tg", now.Add(time.Minute), 10)
		if len(due) != 3 || due[0].ID != ids[0] || due[1].ID != ids[1] {
			t.Fatalf("once the retry is due: %+v; want all three in order", due)
		}
	})
}

package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sewa/store"
)

// backupAddCard writes one card and its "created" event in one transaction, as the
// bot does: in any consistent copy every card has exactly one event.
func backupAddCard(ctx context.Context, st *store.Store, at time.Time) error {
	return st.Tx(ctx, func(tx *store.Tx) error {
		c := &store.Card{Flow: "request", Stage: "validate", Created: at, Updated: at, StageEntered: at,
			Fields: map[string]string{"name": "Asha Devi", "families": "2"}}
		if err := tx.NewCard("R", c); err != nil {
			return err
		}
		return tx.AddEvent(store.Event{Card: c.ID, At: at, Actor: "system", To: c.Stage, What: "created"})
	})
}

// Backups taken while another goroutine keeps writing are each a sound
// database showing one moment: integrity_check passes and no card lacks the
// event committed with it.
func TestBackupDuringWrites(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := open(t, filepath.Join(dir, "sewa.db"))
	at := time.Date(2026, 4, 2, 10, 0, 0, 0, time.UTC)
	for range 50 {
		if err := backupAddCard(ctx, st, at); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var written atomic.Int64
	progress := make(chan struct{}, 10000)
	var wg sync.WaitGroup
	var writeErr error
	writerDone := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(writerDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := backupAddCard(ctx, st, at); err != nil {
				writeErr = err
				return
			}
			written.Add(1)
			select {
			case progress <- struct{}{}:
			default:
			}
		}
	}()
	var copies []string
	var during int64 // cards committed while a backup ran
	for i := range 3 {
		// Let the writer commit some cards between copies.
		for range 20 {
			select {
			case <-progress:
			case <-writerDone:
			}
		}
		dest := filepath.Join(dir, "backups", fmt.Sprintf("copy-%d.db", i))
		before := written.Load()
		err := st.Backup(ctx, dest)
		during += written.Load() - before
		if err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("backup %d during writes: %v", i, err)
		}
		copies = append(copies, dest)
	}
	close(stop)
	wg.Wait()
	if writeErr != nil {
		t.Fatalf("writer failed while backups ran: %v", writeErr)
	}
	t.Logf("%d cards committed while the 3 backups ran, %d in all", during, written.Load())
	prev := 0
	for _, c := range copies {
		info, err := store.CheckFile(ctx, c)
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		if info.Cards != info.Events {
			t.Errorf("%s: %d cards but %d events: not one moment", c, info.Cards, info.Events)
		}
		if info.Cards < 50 || info.Cards < prev {
			t.Errorf("%s: %d cards (previous copy %d)", c, info.Cards, prev)
		}
		prev = info.Cards
		fi, err := os.Stat(c)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v; a backup holds personal data and must be 0600", c, fi.Mode().Perm())
		}
		if _, err := os.Stat(c + "-wal"); err == nil {
			t.Errorf("%s has a -wal beside it; a backup must be one file", c)
		}
		// The copy opens as a store with every card readable.
		cp := open(t, c)
		var seq int
		if err := cp.DB().QueryRow(`SELECT last FROM card_seq WHERE prefix = 'R'`).Scan(&seq); err != nil || seq != info.Cards {
			t.Errorf("%s: card sequence at %d (%v), cards %d", c, seq, err, info.Cards)
		}
	}
	if err := st.Backup(ctx, copies[0]); err == nil {
		t.Error("a backup overwrote an existing file")
	}
}

func TestBackupFileLeavesTheDatabaseAlone(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "sewa.db")
	st := open(t, path)
	if err := backupAddCard(ctx, st, time.Now()); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(dir, "copy.db")
	if err := store.BackupFile(ctx, path, dest); err != nil {
		t.Fatal(err)
	}
	if info, err := store.CheckFile(ctx, dest); err != nil || info.Cards != 1 {
		t.Fatalf("copy: %+v, %v", info, err)
	}
	if err := store.BackupFile(ctx, filepath.Join(dir, "missing.db"), filepath.Join(dir, "x.db")); err == nil {
		t.Error("backup of a missing file succeeded")
	}
}

// Restore refuses while the database is open anywhere, and otherwise puts
// the backup in place, keeping the database it replaced.
func TestRestore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "sewa.db")
	now := time.Date(2026, 4, 2, 10, 0, 0, 0, time.UTC)
	st, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		backupAddCard(ctx, st, now)
	}
	backup := filepath.Join(dir, "backup.db")
	if err := st.Backup(ctx, backup); err != nil {
		t.Fatal(err)
	}
	backupAddCard(ctx, st, now) // a fourth card, after the backup

	if _, err := store.Restore(ctx, backup, path, now); !errors.Is(err, store.ErrInUse) {
		t.Fatalf("restore over an open database: %v, want ErrInUse", err)
	}
	if info, err := store.CheckFile(ctx, path); err != nil || info.Cards != 4 {
		t.Fatalf("a refused restore changed the database: %+v, %v", info, err)
	}
	st.Close()

	garbage := filepath.Join(dir, "garbage.db")
	os.WriteFile(garbage, []byte("not a database at all, just text"), 0o600)
	if _, err := store.Restore(ctx, garbage, path, now); err == nil {
		t.Fatal("restored a file that is not a database")
	}

	kept, err := store.Restore(ctx, backup, path, now)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := store.CheckFile(ctx, kept); err != nil || info.Cards != 4 {
		t.Errorf("the replaced database was not kept whole at %s: %+v, %v", kept, info, err)
	}
	st = open(t, path)
	var n int
	st.DB().QueryRow(`SELECT count(*) FROM cards`).Scan(&n)
	if n != 3 {
		t.Errorf("restored database has %d cards, want the backup's 3", n)
	}
}

func TestDailyBackupKeepsSeven(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := open(t, filepath.Join(dir, "sewa.db"))
	backups := filepath.Join(dir, "backups")
	day := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	for i := range 10 {
		d := day.AddDate(0, 0, i).Format(time.DateOnly)
		if _, made, err := st.DailyBackup(ctx, backups, d, 7); err != nil || !made {
			t.Fatalf("day %s: made %v, %v", d, made, err)
		}
		if _, made, err := st.DailyBackup(ctx, backups, d, 7); err != nil || made {
			t.Fatalf("day %s again: made %v, %v; want one backup a day", d, made, err)
		}
	}
	got, err := store.DailyBackups(backups)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 7 || filepath.Base(got[0]) != "sewa-2026-04-04.db" || filepath.Base(got[6]) != "sewa-2026-04-10.db" {
		t.Fatalf("kept %v; want the last 7 days, 04-04 to 04-10", got)
	}
	path, err := st.Path(ctx)
	if err != nil || path != filepath.Join(dir, "sewa.db") {
		t.Errorf("Path = %q, %v", path, err)
	}
}

// BenchmarkBackup measures a backup of a database of 10,000 cards (each
// with its event), the size of a busy month.
func BenchmarkBackup(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	st, err := store.Open(ctx, filepath.Join(dir, "sewa.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	at := time.Date(2026, 4, 2, 10, 0, 0, 0, time.UTC)
	err = st.Tx(ctx, func(tx *store.Tx) error {
		for range 10000 {
			c := &store.Card{Flow: "request", Stage: "validate", Created: at, Updated: at, StageEntered: at,
				Fields: map[string]string{"name": "Asha Devi", "phone": "9812345678", "address": "Seelampur, Gali 4", "families": "2"}}
			if err := tx.NewCard("R", c); err != nil {
				return err
			}
			if err := tx.AddEvent(store.Event{Card: c.ID, At: at, Actor: "system", To: c.Stage, What: "created"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := st.Backup(ctx, filepath.Join(dir, fmt.Sprintf("b%d.db", i))); err != nil {
			b.Fatal(err)
		}
	}
}

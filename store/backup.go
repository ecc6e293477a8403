package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Backups. A backup is one self-contained SQLite file (no -wal beside it),
// made with VACUUM INTO: a single read transaction, so the copy is the
// database as it was at one moment, taken while the bot goes on writing.
//
// Restore puts a backup in place of the database, but only when no process
// has the database open. A running Sewa always holds a connection, and with
// it SQLite's shared lock on the WAL index; Restore asks SQLite for an
// exclusive lock without waiting, and a refusal means someone is using it.

// ErrInUse means the database is open in a running process.
var ErrInUse = errors.New("database is in use (is sewa running? stop it first)")

// ErrPostgresBackup refuses a file backup of a PostgreSQL database.
var ErrPostgresBackup = errors.New("the database is PostgreSQL: back it up with pg_dump (e.g. pg_dump -Fc -f sewa.dump DBNAME) and restore with pg_restore; sewa backup and restore are for SQLite files")

// Backup writes a consistent copy of the open database to dest, which must
// not exist yet. The copy is written beside dest and renamed into place, so a
// failed backup never leaves a half-written file under dest's name.
func (s *Store) Backup(ctx context.Context, dest string) error {
	if s.pg {
		return fmt.Errorf("backup: %w", ErrPostgresBackup)
	}
	return backupDB(ctx, s.db, dest)
}

// BackupFile copies the database file at path to dest without opening it as
// a Store, so no migration runs on a database another (older or newer) sewa
// is using at that moment.
func BackupFile(ctx context.Context, path, dest string) error {
	if IsPostgres(path) {
		return fmt.Errorf("backup: %w", ErrPostgresBackup)
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("backup: open %s: %w", path, err)
	}
	defer db.Close()
	return backupDB(ctx, db, dest)
}

func backupDB(ctx context.Context, db *sql.DB, dest string) error {
	if _, err := os.Stat(dest); err == nil {
		return fmt.Errorf("backup: %s already exists", dest)
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o700); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	tmp := dest + ".partial"
	os.Remove(tmp) // left by a backup that was interrupted
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("backup: vacuum into %s: %w", tmp, err)
	}
	if err := finishCopy(ctx, tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("backup: %w", err)
	}
	return syncDir(filepath.Dir(dest))
}

// finishCopy makes a fresh copy a single file readable only by its owner
// (it holds people's names and phones) and flushes it to disk.
func finishCopy(ctx context.Context, path string) error {
	if err := os.Chmod(path, 0o600); err != nil {
		return err
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		return err
	}
	var mode string
	err = db.QueryRowContext(ctx, `PRAGMA journal_mode = DELETE`).Scan(&mode)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("journal mode of %s: %w", path, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	d.Sync() // not every file system syncs directories; the rename is done either way
	return nil
}

// FileInfo is what CheckFile found in a database file.
type FileInfo struct {
	Version int // schema version
	Cards   int
	Events  int
}

// CheckFile opens the database file at path read-only and checks that it is
// a sound Sewa database: SQLite's integrity check passes and its schema is
// one this program knows.
func CheckFile(ctx context.Context, path string) (FileInfo, error) {
	var info FileInfo
	if _, err := os.Stat(path); err != nil {
		return info, err
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return info, err
	}
	defer db.Close()
	var problems []string
	rows, err := db.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return info, fmt.Errorf("%s is not a SQLite database: %w", path, err)
	}
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			rows.Close()
			return info, err
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return info, fmt.Errorf("%s: integrity check: %w", path, err)
	}
	if len(problems) > 0 {
		return info, fmt.Errorf("%s: integrity check failed: %s", path, strings.Join(problems, "; "))
	}
	if err := db.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&info.Version); err != nil {
		return info, fmt.Errorf("%s is not a Sewa database: %w", path, err)
	}
	if info.Version > Latest() {
		return info, fmt.Errorf("%s: %w: the file is at version %d, this sewa knows up to %d", path, ErrNewerSchema, info.Version, Latest())
	}
	err = db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM cards), (SELECT count(*) FROM card_events)`).Scan(&info.Cards, &info.Events)
	if err != nil {
		return info, fmt.Errorf("%s: %w", path, err)
	}
	return info, nil
}

// Restore replaces the database at path with the backup from. It checks the
// backup first, refuses with ErrInUse while any process has path open, and
// keeps the database it replaces as path.before-restore-TIME (returned), so
// a restore can be undone. Nothing is changed when it fails.
func Restore(ctx context.Context, from, path string, now time.Time) (kept string, err error) {
	if IsPostgres(path) {
		return "", fmt.Errorf("restore: %w", ErrPostgresBackup)
	}
	if _, err := CheckFile(ctx, from); err != nil {
		return "", fmt.Errorf("restore: the backup is not usable: %w", err)
	}
	if _, err := os.Stat(path); err == nil {
		if err := lockExclusive(ctx, path); err != nil {
			return "", err
		}
		kept = path + ".before-restore-" + now.UTC().Format("20060102T150405Z")
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Rename(path+suffix, kept+suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
				return "", fmt.Errorf("restore: keep the current database: %w", err)
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("restore: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return kept, fmt.Errorf("restore: %w", err)
	}
	tmp := path + ".restoring"
	if err := copyFile(from, tmp); err != nil {
		os.Remove(tmp)
		return kept, fmt.Errorf("restore: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return kept, fmt.Errorf("restore: %w", err)
	}
	return kept, syncDir(filepath.Dir(path))
}

// lockExclusive takes and releases SQLite's exclusive lock on path without
// waiting: ErrInUse when another connection (in any process) has it open.
// Closing the last connection also folds any -wal into the file.
func lockExclusive(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(0)&_pragma=locking_mode(EXCLUSIVE)")
	if err != nil {
		return fmt.Errorf("restore: open %s: %w", path, err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("restore: open %s: %w", path, err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN EXCLUSIVE`); err != nil {
		if strings.Contains(err.Error(), "SQLITE_BUSY") || strings.Contains(err.Error(), "locked") {
			return fmt.Errorf("restore: %s: %w", path, ErrInUse)
		}
		return fmt.Errorf("restore: lock %s: %w", path, err)
	}
	_, err = conn.ExecContext(ctx, `COMMIT`)
	return err
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	f, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, src); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Path returns the file of the open database ("" for an in-memory one).
func (s *Store) Path(ctx context.Context) (string, error) {
	if s.pg {
		return "", nil
	}
	var seq int
	var name, file string
	err := s.db.QueryRowContext(ctx, `SELECT seq, name, file FROM pragma_database_list WHERE name = 'main'`).Scan(&seq, &name, &file)
	return file, err
}

// BackupPrefix and BackupSuffix frame the name of a daily backup:
// sewa-2026-04-02.db.
const (
	BackupPrefix = "sewa-"
	BackupSuffix = ".db"
)

// DailyBackup makes the backup of day ("2026-04-02") in dir unless it exists,
// then deletes the oldest daily backups beyond keep. It returns the backup's
// path and whether it was made now.
func (s *Store) DailyBackup(ctx context.Context, dir, day string, keep int) (string, bool, error) {
	path := filepath.Join(dir, BackupPrefix+day+BackupSuffix)
	made := false
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if err := s.Backup(ctx, path); err != nil {
			return path, false, err
		}
		made = true
	} else if err != nil {
		return path, false, fmt.Errorf("backup: %w", err)
	}
	old, err := DailyBackups(dir)
	if err != nil {
		return path, made, err
	}
	for len(old) > keep && keep > 0 {
		if err := os.Remove(old[0]); err != nil {
			return path, made, fmt.Errorf("backup: remove old %s: %w", old[0], err)
		}
		old = old[1:]
	}
	return path, made, nil
}

// DailyBackups lists the daily backups in dir, oldest first.
func DailyBackups(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		day, ok := strings.CutPrefix(name, BackupPrefix)
		day, ok2 := strings.CutSuffix(day, BackupSuffix)
		if !ok || !ok2 || e.IsDir() {
			continue
		}
		if _, err := time.Parse(time.DateOnly, day); err != nil {
			continue
		}
		out = append(out, filepath.Join(dir, name))
	}
	sort.Strings(out) // the date in the name sorts by age
	return out, nil
}

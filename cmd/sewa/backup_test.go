package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sewa/store"
)

// newDB runs the console once so the database has a request in it.
func newDB(t *testing.T) (string, map[string]string) {
	t.Helper()
	db := filepath.Join(t.TempDir(), "data", "sewa.db")
	vars := map[string]string{"SEWA_DB": db, "SEWA_HTTP": "off"}
	code, out, errs := runSewa(t, vars, "/as asha\n/request\nAsha Devi\n9812345678\nSeelampur, Gali 4\n2\n9\nskip\nskip\n")
	if code != 0 || !strings.Contains(out, "R-1") {
		t.Fatalf("seeding run: exit %d\n%s\n%s", code, out, errs)
	}
	return db, vars
}

func TestBackupAndRestoreCommands(t *testing.T) {
	db, vars := newDB(t)
	dir := filepath.Dir(db)
	copyPath := filepath.Join(dir, "copy.db")
	code, out, errs := runSewa(t, vars, "", "backup", copyPath)
	if code != 0 || !strings.Contains(out, "integrity ok") || !strings.Contains(out, "1 cards") {
		t.Fatalf("backup: exit %d\n%s\n%s", code, out, errs)
	}
	if code, _, _ := runSewa(t, vars, "", "backup", copyPath); code != exitFailure {
		t.Errorf("a second backup over the first: exit %d", code)
	}
	if code, _, errs := runSewa(t, vars, "", "backup"); code != exitUsage || !strings.Contains(errs, "usage: sewa backup FILE") {
		t.Errorf("backup without FILE: exit %d, %s", code, errs)
	}

	// While sewa has the database open, restore refuses and changes nothing.
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	code, _, errs = runSewa(t, vars, "", "restore", copyPath)
	st.Close()
	if code != exitFailure || !strings.Contains(errs, "stop it first") {
		t.Fatalf("restore over a running database: exit %d, %s", code, errs)
	}
	code, out, errs = runSewa(t, vars, "", "restore", copyPath)
	if code != 0 || !strings.Contains(out, "Restored") || !strings.Contains(out, "kept as") {
		t.Fatalf("restore: exit %d\n%s\n%s", code, out, errs)
	}
	if info, err := store.CheckFile(context.Background(), db); err != nil || info.Cards != 1 {
		t.Errorf("restored database: %+v, %v", info, err)
	}
	if code, _, errs := runSewa(t, vars, "", "restore", filepath.Join(dir, "missing.db")); code != exitFailure || !strings.Contains(errs, "not usable") {
		t.Errorf("restore of a missing file: exit %d, %s", code, errs)
	}
}

func TestBackupOfNoDatabase(t *testing.T) {
	vars := map[string]string{"SEWA_DB": filepath.Join(t.TempDir(), "nothing.db")}
	code, _, errs := runSewa(t, vars, "", "backup", filepath.Join(t.TempDir(), "copy.db"))
	if code != exitFailure || !strings.Contains(errs, "no such file") {
		t.Errorf("backup of a missing database: exit %d, %s", code, errs)
	}
	if _, err := os.Stat(vars["SEWA_DB"]); err == nil {
		t.Error("backup created an empty database")
	}
}

func TestPublicURLMustBeHTTP(t *testing.T) {
	vars := map[string]string{"SEWA_DB": filepath.Join(t.TempDir(), "sewa.db"), "SEWA_HTTP": "off", "SEWA_PUBLIC_URL": "sewa.example.org"}
	code, _, errs := runSewa(t, vars, "")
	if code != exitUsage || !strings.Contains(errs, "SEWA_PUBLIC_URL") {
		t.Errorf("exit %d, %s", code, errs)
	}
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExportCommand(t *testing.T) {
	db, vars := newDB(t)
	vars["SEWA_TZ"] = "Asia/Kolkata"
	loc, _ := time.LoadLocation("Asia/Kolkata")
	today := time.Now().In(loc)
	from, to := today.AddDate(0, 0, -1).Format(time.DateOnly), today.AddDate(0, 0, 1).Format(time.DateOnly)
	out := filepath.Join(filepath.Dir(db), "open-data")
	code, stdout, errs := runSewa(t, vars, "", "export", "--from", from, "--to", to, "--out", out)
	if code != 0 || !strings.Contains(stdout, "1 requests") {
		t.Fatalf("export: exit %d\n%s\n%s", code, stdout, errs)
	}
	for _, name := range []string{"requests.csv", "deliveries.csv", "donations.csv", "stock_ledger.csv", "datapackage.json"} {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{"Asha", "Devi", "9812345678", "Gali"} {
			if strings.Contains(string(b), secret) {
				t.Errorf("%s contains %q:\n%s", name, secret, b)
			}
		}
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"export"}, "usage: sewa export"},
		{[]string{"export", "--from", "2026-04-01"}, "usage: sewa export"},
		{[]string{"export", "--from", "April", "--to", "2026-04-30"}, "write days as 2026-04-01"},
		{[]string{"export", "--from", "2026-04-30", "--to", "2026-04-01"}, "--to is before --from"},
	} {
		code, _, errs := runSewa(t, vars, "", tt.args...)
		if code != exitUsage || !strings.Contains(errs, tt.want) {
			t.Errorf("%v: exit %d, %s", tt.args, code, errs)
		}
	}
	missing := map[string]string{"SEWA_DB": filepath.Join(t.TempDir(), "none.db")}
	if code, _, errs := runSewa(t, missing, "", "export", "--from", from, "--to", to); code != exitFailure || !strings.Contains(errs, "no database") {
		t.Errorf("export of a missing database: exit %d, %s", code, errs)
	}
}

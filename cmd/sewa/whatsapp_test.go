package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sewa/bot/whatsapp"
)

// `sewa whatsapp link` with no network fails with a sentence saying what to
// do, not a panic, and in bounded time.
func TestWhatsAppLinkWithoutNetwork(t *testing.T) {
	db := filepath.Join(t.TempDir(), "data", "sewa.db")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	began := time.Now()
	code := run(ctx, []string{"whatsapp", "link"}, env(map[string]string{"SEWA_DB": db}), strings.NewReader(""), &out, &errb)
	t.Logf("%s\nstdout:\n%s\nstderr:\n%s", time.Since(began), out.String(), errb.String())
	if code != exitFailure {
		t.Fatalf("exit %d, want %d", code, exitFailure)
	}
	msg := strings.TrimSpace(errb.String())
	if strings.Count(msg, "\n") != 0 || !strings.HasPrefix(msg, "sewa whatsapp link: ") || strings.Contains(msg, "panic") {
		t.Errorf("want one line saying what went wrong, got:\n%s", msg)
	}
	if !strings.Contains(msg, "internet connection") && !strings.Contains(msg, "codes ran out") {
		t.Errorf("the message does not say what to do: %s", msg)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(db), whatsapp.StoreFile)); err != nil {
		t.Errorf("device store not beside SEWA_DB: %v", err)
	}
}

func TestWhatsAppCommandUsage(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"SEWA_DB": filepath.Join(dir, "sewa.db")}
	cases := []struct {
		args []string
		code int
		out  string // in stdout or stderr
	}{
		{[]string{"whatsapp"}, exitUsage, "sewa whatsapp link"},
		{[]string{"whatsapp", "pair"}, exitUsage, "sewa whatsapp link"},
		{[]string{"whatsapp", "link", "--phone", "98123 45678x"}, exitUsage, "country code"},
		{[]string{"whatsapp", "link", "extra"}, exitUsage, "usage"},
		{[]string{"whatsapp", "unlink"}, 0, "No WhatsApp number is linked"},
	}
	for _, c := range cases {
		code, out, errs := runSewa(t, vars, "", c.args...)
		if code != c.code || !strings.Contains(out+errs, c.out) {
			t.Errorf("%q: exit %d, want %d with %q:\n%s%s", c.args, code, c.code, c.out, out, errs)
		}
	}
}

// SEWA_WHATSAPP=1 before linking: one clear line, exit 2.
func TestWhatsAppNotLinked(t *testing.T) {
	vars := map[string]string{"SEWA_DB": filepath.Join(t.TempDir(), "sewa.db"), "SEWA_WHATSAPP": "1"}
	code, _, errs := runSewa(t, vars, "")
	if code != exitUsage {
		t.Fatalf("exit %d, want %d: %s", code, exitUsage, errs)
	}
	if !strings.Contains(errs, "run `sewa whatsapp link`") || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Errorf("want one line saying to run `sewa whatsapp link`, got:\n%s", errs)
	}
}

package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"sewa/bot/telegram/fakeapi"
	"sewa/flows"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func runSewa(t *testing.T, vars map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, env(vars), strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// With no tokens, sewa runs the console; a second run on the same database
// resumes the conversation where it was.
func TestConsoleRunAndResume(t *testing.T) {
	db := filepath.Join(t.TempDir(), "sewa.db")
	vars := map[string]string{"SEWA_DB": db}
	code, out, errs := runSewa(t, vars, "/start\n1\nAsha\n9812345678\n")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "console channel") || !strings.Contains(out, "TELEGRAM_TOKEN") {
		t.Errorf("no line saying the console runs and how to add Telegram:\n%s", out)
	}
	if !strings.Contains(out, "Where should the kit reach?") {
		t.Fatalf("intake did not progress:\n%s", out)
	}
	code, out, errs = runSewa(t, vars, "Okhla Phase 2\n1\n4\nskip\nskip\n/status\n")
	if code != 0 {
		t.Fatalf("second run exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "Your request is R-1") || !strings.Contains(out, "validate 1") {
		t.Fatalf("second run did not resume and finish:\n%s", out)
	}
}

func TestConfigProblemsOneLineEach(t *testing.T) {
	code, _, errs := runSewa(t, map[string]string{"SEWA_LANG": "fr", "SEWA_TZ": "Mars/Olympus", "SEWA_COORDINATORS": "123", "SEWA_DB": filepath.Join(t.TempDir(), "x.db")}, "")
	if code != exitUsage {
		t.Fatalf("exit %d, want %d", code, exitUsage)
	}
	for _, want := range []string{"SEWA_LANG", "SEWA_TZ", "SEWA_COORDINATORS"} {
		if !strings.Contains(errs, want) {
			t.Errorf("no line about %s in:\n%s", want, errs)
		}
	}
	if n := strings.Count(strings.TrimSpace(errs), "\n") + 1; n != 3 {
		t.Errorf("%d lines for 3 problems:\n%s", n, errs)
	}
}

func TestFlowsCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "flows.yaml")
	os.WriteFile(good, flows.DefaultYAML(), 0o644)
	code, out, _ := runSewa(t, nil, "", "flows", "check", good)
	if code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("embedded flows: exit %d, %s", code, out)
	}
	broken := strings.Replace(string(flows.DefaultYAML()), "type: number", "type: nmber", 1)
	broken = strings.Replace(broken, "to: dispatch", "to: dispach", 1)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(broken), 0o644)
	code, out, _ = runSewa(t, nil, "", "flows", "check", bad)
	if code == 0 {
		t.Fatal("broken file passed")
	}
	for _, want := range []string{`unknown type "nmber"`, `unknown stage "dispach"`, "2 problem(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "bad.yaml:line ") {
		t.Errorf("problems do not name file and line:\n%s", out)
	}
}

// Telegram answering 502 at start is waited out; the bot starts once the
// Bot API is back, and a refused token still stops it with exit code 2.
func TestTelegramDownAtStartIsWaitedOut(t *testing.T) {
	var up atomic.Bool
	api := fakeapi.New(t, "123:good")
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			http.Error(w, "bad gateway", http.StatusBadGateway)
			up.Store(true) // the next try finds it back
			return
		}
		api.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	vars := map[string]string{"SEWA_DB": filepath.Join(t.TempDir(), "s.db"), "TELEGRAM_TOKEN": "123:good",
		"TELEGRAM_API_URL": proxy.URL, "SEWA_HTTP": "off", "SEWA_CONSOLE": "0"}
	done := make(chan int, 1)
	var out, errb bytes.Buffer
	go func() { done <- run(ctx, nil, env(vars), strings.NewReader(""), &out, &errb) }()
	for !api.Polling() && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if len(api.Calls("getUpdates")) == 0 {
		t.Fatal("never started polling after the Bot API came back")
	}

	vars["TELEGRAM_TOKEN"] = "123:wrong"
	vars["TELEGRAM_API_URL"] = api.URL()
	if code, _, errs := runSewa(t, vars, ""); code != exitUsage || !strings.Contains(errs, "TELEGRAM_TOKEN") {
		t.Fatalf("wrong token: exit %d, %q", code, errs)
	}
}

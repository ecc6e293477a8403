package bot_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sewa/bot"
	"sewa/bot/console"
	"sewa/store"
)

// scrape reads /metrics and returns it as text.
func scrape(t *testing.T, rt *bot.Runtime) string {
	t.Helper()
	rec := httptest.NewRecorder()
	rt.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d\n%s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// metric returns the value of the series name{labels} ("" when absent).
func metric(text, series string) string {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}

func TestMetrics(t *testing.T) {
	w := newWorld(t)
	for _, line := range []string{"/request", "Asha Devi", "9812345678", "Seelampur", "2", "9", "skip", "skip"} {
		w.say("asha", line)
	}
	text := scrape(t, w.rt)
	for series, want := range map[string]string{
		`sewa_inbound_messages_total{channel="console"}`:             "8",
		`sewa_handling_seconds_count{channel="console"}`:             "8",
		`sewa_cards_open{flow="request",stage="validate"}`:           "1",
		`sewa_cards_stale{flow="request",stage="validate"}`:          "0",
		`sewa_cards_open{flow="request",stage="dispatch"}`:           "0",
		`sewa_outbox_pending{channel="console"}`:                     "0",
		`sewa_outbox_failed_total{channel="console"}`:                "0",
		`sewa_backup_failures_total`:                                 "0",
		`sewa_stage_oldest_seconds{flow="request",stage="validate"}`: "0",
	} {
		if got := metric(text, series); got != want {
			t.Errorf("%s = %q, want %q", series, got, want)
		}
	}
	for _, name := range []string{"go_goroutines", "process_", "sewa_handling_seconds_bucket"} {
		if !strings.Contains(text, name) {
			t.Errorf("no %s in /metrics", name)
		}
	}
	// Time moves past validate's stale_after (24h): the card is stale.
	w.clock.Advance(25 * time.Hour)
	text = scrape(t, w.rt)
	if got := metric(text, `sewa_cards_stale{flow="request",stage="validate"}`); got != "1" {
		t.Errorf("stale after 25h = %q, want 1", got)
	}
	if got := metric(text, `sewa_stage_oldest_seconds{flow="request",stage="validate"}`); got != "90000" {
		t.Errorf("oldest after 25h = %q, want 90000", got)
	}
	// Each runtime has its own registry.
	other := newWorld(t)
	if got := metric(scrape(t, other.rt), `sewa_inbound_messages_total{channel="console"}`); got != "" {
		t.Errorf("a second runtime counts the first one's messages: %q", got)
	}
}

// A port another program holds is one log line; the bot runs on without
// HTTP.
func TestBusyPortIsOneLogLine(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx := context.Background()
	st, set := openStoreAndFlows(t, filepath.Join(t.TempDir(), "sewa.db"))
	defer st.Close()
	var logs, out bytes.Buffer
	con := console.New(strings.NewReader("/start\n"), &out)
	rt := bot.New(st, set, bot.WithChannel(con), bot.WithHTTP(ln.Addr().String()),
		bot.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	if err := rt.Run(ctx); err != nil {
		t.Fatalf("run with a busy port: %v", err)
	}
	if !strings.Contains(out.String(), "What would you like to do?") {
		t.Errorf("the console did not work:\n%s", out.String())
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "http off") || !strings.Contains(lines[0], "in use") || !strings.Contains(lines[0], ln.Addr().String()) {
		t.Errorf("want one line saying the port is in use, got:\n%s", logs.String())
	}
}

// The daily backup runs with the other jobs: one file a day, the last few
// kept, and its time in /metrics.
func TestDailyBackupJob(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "backups")
	w := newWorld(t, bot.WithDailyBackup(dir, 2))
	w.say("asha", "/request")
	ctx := context.Background()
	for day := range 4 {
		for range 2 { // twice a day: still one backup
			if err := w.rt.Tick(ctx); err != nil {
				t.Fatal(err)
			}
		}
		got, err := store.DailyBackups(dir)
		if err != nil {
			t.Fatal(err)
		}
		if want := min(day+1, 2); len(got) != want {
			t.Fatalf("day %d: %d backups %v, want %d", day, len(got), got, want)
		}
		if _, err := store.CheckFile(ctx, got[len(got)-1]); err != nil {
			t.Fatal(err)
		}
		w.clock.Advance(24 * time.Hour)
	}
	if got := metric(scrape(t, w.rt), "sewa_backup_last_success_timestamp_seconds"); !regexp.MustCompile(`^1\.77\d+e\+09$`).MatchString(got) {
		t.Errorf("last backup time %q", got)
	}
}

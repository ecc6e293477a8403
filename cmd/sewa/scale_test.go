package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sewa/bot/telegram/fakeapi"
	"sewa/internal/pgtest"
	"sewa/store"
)

// Three sewa processes (real binaries, built without -race) on one
// PostgreSQL database, against the fake Bot API, one of them — the one
// polling Telegram — killed with SIGKILL in the middle of a burst. The
// others go on: one of them takes over polling once the dead one's lease
// runs out, all of them drain the outbox, and bank SMS posted to all three
// at once make one donation card each. Afterwards every update was handled
// once, every answer sent (twice at most for the one in flight when the
// process died) and in order, no two processes polled at once, and card
// numbers have no gaps. Polling, only the lease holder handles updates, so
// claims, receipts and reminders made by several processes at once are
// TestSeveralProcessesShareTheWork's (webhook mode); the checks of them
// here are a sanity check of an idle board.
func TestSeveralProcessesOnePostgres(t *testing.T) {
	if _, ok := pgtest.URL(t); !ok {
		return
	}
	const chats, n = 10, 8 // n: the rounds said below
	dsn := pgtest.Fresh(t, t.Name())
	dir := t.TempDir()
	bin := sewaBinary(t, dir)
	api := fakeapi.New(t, crashToken, fakeapi.WithLimits(30, 1))
	env := func(extra ...string) []string {
		return append([]string{
			"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TMPDIR=" + dir,
			"SEWA_DB=" + dsn, "SEWA_DATA=" + filepath.Join(dir, "data"), "TELEGRAM_TOKEN=" + crashToken,
			"TELEGRAM_API_URL=" + api.URL(), "SEWA_CONSOLE=0", "SEWA_TZ=UTC", "SEWA_SMS_TOKEN=sms-secret",
		}, extra...)
	}

	// The schema first, explicitly, as the README says.
	mig := exec.Command(bin, "migrate")
	mig.Env = env()
	if out, err := mig.CombinedOutput(); err != nil || !strings.Contains(string(out), "Migrated") {
		t.Fatalf("sewa migrate: %v\n%s", err, out)
	}

	type sewaProc struct {
		cmd    *exec.Cmd
		stderr *syncWriter
		http   string
		exited chan struct{}
	}
	var procs []*sewaProc
	for range 3 {
		addr := freeAddr(t)
		p := &sewaProc{stderr: &syncWriter{w: &bytes.Buffer{}}, http: addr, exited: make(chan struct{})}
		p.cmd = exec.Command(bin)
		p.cmd.Dir = dir
		p.cmd.Env = env("SEWA_HTTP=" + addr)
		p.cmd.Stderr = p.stderr
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { p.cmd.Wait(); close(p.exited) }()
		procs = append(procs, p)
	}
	t.Cleanup(func() {
		for i, p := range procs {
			p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.exited
			if t.Failed() {
				l := p.stderr.String()
				if len(l) > 6000 {
					l = "…" + l[len(l)-6000:]
				}
				t.Logf("process %d stderr:\n%s", i+1, l)
			}
		}
	})
	st, err := store.OpenWith(context.Background(), dsn, store.OpenOptions{NoMigrate: true}) // the tests' own view
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q := func(query string, args ...any) int {
		t.Helper()
		var v int
		if err := st.DB().QueryRow(query, args...).Scan(&v); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		return v
	}
	deadline := time.Now().Add(30 * time.Second)
	for !api.Polling() || !httpUp(procs[0].http) || !httpUp(procs[1].http) || !httpUp(procs[2].http) {
		if time.Now().After(deadline) {
			t.Fatal("the processes did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}

	var last int64
	say := func(rounds ...int) {
		for _, i := range rounds {
			for c := range chats {
				last = api.SayText(int64(100000+c), crashScript(c, n)[i])
			}
		}
	}
	say(0, 1, 2, 3) // the first half of the burst
	// The same bank SMS reaches every process at once (a forwarder app
	// retrying against a load balancer): one card per credit.
	const credits = 4
	var wg sync.WaitGroup
	smsErrs := make(chan error, 3*credits)
	for k := range credits {
		text := fmt.Sprintf("Dear Customer, Acct XX3344 is credited with Rs %d.00 on 13-Mar-24 from payer%d@okaxis. UPI:4073122004%02d-HDFC Bank.", 1000+k, k, k)
		for _, p := range procs {
			wg.Go(func() { smsErrs <- postSMS(p.http, text) })
		}
	}
	wg.Wait()
	close(smsErrs)
	for err := range smsErrs {
		if err != nil {
			t.Fatal(err)
		}
	}

	// The second half arrives, and the poller dies while it takes it in.
	for api.Confirmed() <= last && time.Now().Before(deadline.Add(30*time.Second)) {
		time.Sleep(10 * time.Millisecond)
	}
	say(4, 5, 6, 7)
	time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
	holder, _, err := st.LeaseHolder(context.Background(), "telegram:poll")
	if err != nil || holder == "" {
		t.Fatalf("poll lease: %q, %v", holder, err)
	}
	parts := strings.Split(holder, ":")
	pid, _ := strconv.Atoi(parts[len(parts)-2])
	killed := -1
	for i, p := range procs {
		if p.cmd.Process.Pid == pid {
			killed = i
		}
	}
	if killed < 0 {
		t.Fatalf("the poll lease is held by %q, none of the processes", holder)
	}
	procs[killed].cmd.Process.Signal(syscall.SIGKILL)
	<-procs[killed].exited
	t.Logf("killed process %d (the poller) at offset %d of %d", killed+1, api.Confirmed(), last+1)

	deadline = time.Now().Add(2 * time.Minute)
	for {
		for i, p := range procs {
			select {
			case <-p.exited:
				if i != killed {
					t.Fatalf("process %d exited by itself:\n%s", i+1, p.stderr.String())
				}
			default:
			}
		}
		done := api.Confirmed() > last
		for c := 0; c < chats && done; c++ {
			done = len(api.SentTo(int64(100000+c))) >= n
		}
		if done && q(`SELECT count(*) FROM outbox WHERE status = 'pending'`) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not done: offset %d of %d, %d answers pending", api.Confirmed(), last+1,
				q(`SELECT count(*) FROM outbox WHERE status = 'pending'`))
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i, p := range procs {
		if i == killed {
			continue
		}
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(30 * time.Second):
			t.Errorf("process %d did not stop within 30s of SIGTERM", i+1)
		}
	}

	if got := q(`SELECT count(*) FROM inbound WHERE channel = 'tg'`); got != chats*n {
		t.Errorf("%d updates handled; want %d", got, chats*n)
	}
	if got := q(`SELECT count(*) FROM inbound WHERE failed IS NOT NULL`); got != 0 {
		t.Errorf("%d updates failed", got)
	}
	if got := q(`SELECT count(DISTINCT requester) FROM cards WHERE flow = 'request'`); got != chats || q(`SELECT count(*) FROM cards WHERE flow = 'request'`) != chats {
		t.Errorf("request cards of %d chats; want one for each of %d", got, chats)
	}
	if got := q(`SELECT count(*) FROM cards WHERE flow = 'donation'`); got != credits {
		t.Errorf("%d donation cards for %d credits posted to 3 processes", got, credits)
	}
	if got := q(`SELECT count(*) FROM card_seq s WHERE s.last <> (SELECT count(*) FROM cards c WHERE c.id LIKE s.prefix || '-%')`); got != 0 {
		t.Errorf("card numbers have gaps or repeats under %d prefixes", got)
	}
	if got := q(`SELECT count(*) FROM (SELECT fy FROM receipts GROUP BY fy HAVING max(seq) <> count(*) OR count(DISTINCT seq) <> count(*)) AS g`); got != 0 {
		t.Errorf("receipt numbers have gaps in %d financial years", got)
	}
	if got := q(`SELECT count(*) FROM (SELECT 1 FROM reminders GROUP BY card_id, stage_entered_at, level HAVING count(*) > 1) AS g`); got != 0 {
		t.Errorf("%d reminders recorded twice", got)
	}
	if got := q(`SELECT count(*) FROM cards WHERE assignee IS NOT NULL AND open = 0`); got != 0 {
		t.Errorf("%d closed cards still held", got)
	}
	if got := q(`SELECT count(*) FROM outbox WHERE status <> 'sent' AND channel = 'tg'`); got != 0 {
		t.Errorf("%d answers not sent", got)
	}
	senders := q(`SELECT count(DISTINCT claimed_by) FROM outbox WHERE status = 'sent'`)
	if senders < 2 {
		t.Errorf("the answers were sent by %d process(es); all should drain the outbox", senders)
	}
	conflicts := 0
	for _, c := range api.Calls("getUpdates") {
		if c.Status == 409 {
			conflicts++
		}
	}
	if conflicts != 0 {
		t.Errorf("%d getUpdates calls were refused because two processes polled at once", conflicts)
	}
	extra := 0
	for c := range chats {
		var texts []string
		for _, s := range api.SentTo(int64(100000 + c)) {
			texts = append(texts, s.Text)
		}
		i := 0
		for k := range n {
			if i >= len(texts) || !crashMatch(k, texts[i]) {
				t.Errorf("chat %d: answer %d missing or out of order; got %q", c, k+1, texts)
				break
			}
			i++
			for i < len(texts) && texts[i] == texts[i-1] && (k+1 >= n || !crashMatch(k+1, texts[i])) {
				extra++
				i++
			}
		}
		if i < len(texts) {
			t.Errorf("chat %d: %d answers more than updates: %q", c, len(texts)-i, texts[i:])
		}
	}
	if extra > 1 {
		t.Errorf("%d answers delivered twice; only the one in flight when the process died may be", extra)
	}
	t.Logf("%d updates, %d credits, 3 processes (%d sent answers), one killed: %d answers delivered twice, %d 429s from the fake's limiter",
		chats*n, credits, senders, extra, api.Stats().RateLimited)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func httpUp(addr string) bool {
	res, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		return false
	}
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

func postSMS(addr, text string) error {
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/sms", strings.NewReader(text))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer sms-secret")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST /sms to %s: %s", addr, res.Status)
	}
	return nil
}

// sewa migrate on a SQLite file and on PostgreSQL; sewa copy moves a
// console conversation's data into PostgreSQL, and a sewa on the URL goes
// on with it; sewa backup and restore point a PostgreSQL user to pg_dump.
func TestMigrateCopyAndBackupCommands(t *testing.T) {
	db := filepath.Join(t.TempDir(), "sewa.db")
	code, out, errs := runSewa(t, map[string]string{"SEWA_DB": db}, "", "migrate")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("from schema version 0 to %d", store.Latest())) {
		t.Fatalf("migrate a new file: %d %q %q", code, out, errs)
	}
	code, out, _ = runSewa(t, map[string]string{"SEWA_DB": db}, "", "migrate")
	if code != 0 || !strings.Contains(out, "nothing to do") {
		t.Fatalf("migrate again: %d %q", code, out)
	}
	code, out, errs = runSewa(t, map[string]string{"SEWA_DB": db}, "/start\n1\nAsha\n9812345678\nGali 4, Okhla\n2\n9\nskip\nskip\n")
	if code != 0 || !strings.Contains(out, "R-1") {
		t.Fatalf("console intake: %d %q %q", code, out, errs)
	}
	if code, _, errs := runSewa(t, nil, "", "copy", "--from", db, "--to", db); code != exitUsage || !strings.Contains(errs, "postgres://") {
		t.Fatalf("copy to a file: %d %q", code, errs)
	}
	if _, ok := pgtest.URL(t); !ok {
		return
	}
	url := pgtest.Fresh(t, t.Name())
	code, out, errs = runSewa(t, nil, "", "copy", "--from", db, "--to", url)
	if code != 0 || !strings.Contains(out, "every count checked") || !regexp.MustCompile(`cards\s+1 rows`).MatchString(out) {
		t.Fatalf("copy: %d %q %q", code, out, errs)
	}
	code, out, errs = runSewa(t, map[string]string{"SEWA_DB": url}, "/mystatus\n")
	if code != 0 || !strings.Contains(out, "R-1") {
		t.Fatalf("sewa on the copy: %d %q %q", code, out, errs)
	}
	if u, _ := neturl.Parse(url); strings.Contains(out+errs, u.User.String()+"@") {
		t.Errorf("the database password was printed: %q", out)
	}
	for _, args := range [][]string{{"backup", filepath.Join(t.TempDir(), "b.db")}, {"restore", db}} {
		code, _, errs := runSewa(t, map[string]string{"SEWA_DB": url}, "", args...)
		if code != exitFailure || !strings.Contains(errs, "pg_dump") {
			t.Errorf("sewa %s on PostgreSQL: %d %q", args[0], code, errs)
		}
	}
}

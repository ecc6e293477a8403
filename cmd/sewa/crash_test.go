package main

import (
	"bytes"
	"database/sql"
	"fmt"
	"math/rand/v2"
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

	_ "modernc.org/sqlite"

	"sewa/bot/telegram/fakeapi"
	_ "sewa/internal/golden" // declares -update for go test ./... -update
)

// Crash and fault tests: the real sewa binary, built without -race (it is a
// separate process), against the fake Bot API listening on loopback in this
// process, with a real database file. The fake keeps Telegram's side of
// things across the bot's deaths: the queued updates, what was confirmed,
// and everything delivered.
//
// Sizes: by default 20 chats × 10 updates and 5 kills, so CI stays within
// seconds. SEWA_CRASH_FULL=1 runs the figure: 50 chats × 20 updates
// (1,000) and 20 kills. SEWA_CRASH_SEED=N repeats a run's kill times.

const crashToken = "7000001:AAH-crash_t0ken"

// firstUpdateID is the fake's first update_id (fakeapi's default).
const firstUpdateID = 700000001

// sewaBinary builds sewa into dir.
func sewaBinary(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "sewa")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// proc is one run of sewa.
type proc struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	exited chan struct{}
	err    error
}

type crashRig struct {
	t    *testing.T
	bin  string
	dir  string
	api  *fakeapi.Server
	runs int
	logs []string // the stderr of every run, for a failure

	mu  sync.Mutex
	cur *proc
}

func newCrashRig(t *testing.T) *crashRig {
	t.Helper()
	dir := t.TempDir()
	r := &crashRig{t: t, bin: sewaBinary(t, dir), dir: dir, api: fakeapi.New(t, crashToken, fakeapi.WithLimits(30, 1))}
	t.Cleanup(func() {
		r.kill()
		if t.Failed() {
			for i, l := range r.logs {
				if len(l) > 4000 {
					l = "…" + l[len(l)-4000:]
				}
				t.Logf("run %d stderr:\n%s", i+1, l)
			}
		}
	})
	return r
}

func (r *crashRig) db() string { return filepath.Join(r.dir, "sewa.db") }

// start runs sewa against the fake.
func (r *crashRig) start() *proc {
	r.t.Helper()
	cmd := exec.Command(r.bin)
	cmd.Dir = r.dir
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + r.dir, "TMPDIR=" + r.dir,
		"SEWA_DB=" + r.db(), "TELEGRAM_TOKEN=" + crashToken, "TELEGRAM_API_URL=" + r.api.URL(),
		"SEWA_CONSOLE=0", "SEWA_TZ=UTC",
	}
	p := &proc{cmd: cmd, stderr: &bytes.Buffer{}, exited: make(chan struct{})}
	cmd.Stderr = &syncWriter{w: p.stderr}
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	r.mu.Lock()
	r.cur = p
	r.runs++
	r.mu.Unlock()
	return p
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

// kill sends SIGKILL to the running sewa, if any, and waits for it.
func (r *crashRig) kill() {
	r.mu.Lock()
	p := r.cur
	r.cur = nil
	r.mu.Unlock()
	if p == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
	r.logs = append(r.logs, p.cmd.Stderr.(*syncWriter).String())
}

// stop sends SIGTERM and expects a clean exit.
func (r *crashRig) stop() {
	r.t.Helper()
	r.mu.Lock()
	p := r.cur
	r.cur = nil
	r.mu.Unlock()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
		r.t.Error("sewa did not stop within 30s of SIGTERM")
	}
	r.logs = append(r.logs, p.cmd.Stderr.(*syncWriter).String())
	if p.err != nil {
		r.t.Errorf("sewa exited with %v after SIGTERM", p.err)
	}
}

// alive fails the test if the running sewa exited by itself.
func (r *crashRig) alive() {
	r.t.Helper()
	r.mu.Lock()
	p := r.cur
	r.mu.Unlock()
	select {
	case <-p.exited:
		r.t.Fatalf("sewa exited by itself: %v\n%s", p.err, p.cmd.Stderr.(*syncWriter).String())
	default:
	}
}

// crashScript is what chat c types: the request intake (a card at the end),
// then "/mystatus" until it said n things. Each update gets exactly one
// answer, so that answers can be counted.
func crashScript(c, n int) []string {
	s := []string{"/request", fmt.Sprint("Person ", c), fmt.Sprintf("98%08d", c), fmt.Sprint("Gali ", c, ", Okhla"), "1", "4", "skip", "skip"}
	for len(s) < n {
		s = append(s, "/mystatus")
	}
	return s[:n]
}

// crashAnswers are the answers to crashScript, in order, as regexps.
var crashAnswers = []*regexp.Regexp{
	regexp.MustCompile(`^What is your name\?`),
	regexp.MustCompile(`mobile number`),
	regexp.MustCompile(`^Where should the kit reach`),
	regexp.MustCompile(`^How many families`),
	regexp.MustCompile(`^How many people`),
	regexp.MustCompile(`^Anything we should know`),
	regexp.MustCompile(`photo of the handwritten list`),
	regexp.MustCompile(`Your request is R-\d+\.`),
}

var crashStatus = regexp.MustCompile(`^Your requests:\nR-\d+: `)

// burst queues n updates from each of chats chats, interleaved, spread
// evenly over the duration over (all at once when over is 0), as Telegram
// would hold them whether sewa is up or not. It returns the last update_id.
func (r *crashRig) burst(chats, n int, over time.Duration) int64 {
	var last int64
	gap := over / time.Duration(chats*n)
	for i := range n {
		for c := range chats {
			last = r.api.SayText(int64(100000+c), crashScript(c, n)[i])
			if gap > 0 {
				time.Sleep(gap)
			}
		}
	}
	return last
}

// waitDone waits until every update was confirmed and every chat got its n
// answers and the outbox is empty, failing if sewa exits meanwhile.
func (r *crashRig) waitDone(chats, n int, last int64, within time.Duration) {
	r.t.Helper()
	deadline := time.Now().Add(within)
	for {
		r.alive()
		done := r.api.Confirmed() > last
		for c := 0; c < chats && done; c++ {
			done = len(r.api.SentTo(int64(100000+c))) >= n
		}
		if done && r.pending() == 0 {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("not done after %s: confirmed offset %d of %d, outbox pending %d", within, r.api.Confirmed(), last+1, r.pending())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pending reads the outbox from a second connection (read-only).
func (r *crashRig) pending() int {
	db, err := sql.Open("sqlite", "file:"+r.db()+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return -1
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM outbox WHERE status = 'pending'`).Scan(&n); err != nil {
		return -1
	}
	return n
}

// check verifies the end state: every update handled exactly once (one
// inbound row each, one card per chat, one answer each, in order), every
// answer delivered (extra deliveries are counted and returned), nothing
// failed.
func (r *crashRig) check(chats, n int, wantUpdates int) (extra int) {
	r.t.Helper()
	db, err := sql.Open("sqlite", "file:"+r.db()+"?mode=ro")
	if err != nil {
		r.t.Fatal(err)
	}
	defer db.Close()
	count := func(q string) int {
		var v int
		if err := db.QueryRow(q).Scan(&v); err != nil {
			r.t.Fatalf("%s: %v", q, err)
		}
		return v
	}
	if got := count(`SELECT count(*) FROM inbound WHERE channel = 'tg'`); got != wantUpdates {
		r.t.Errorf("%d updates handled; want %d", got, wantUpdates)
	}
	if got := count(`SELECT count(*) FROM inbound WHERE failed IS NOT NULL`); got != 0 {
		r.t.Errorf("%d updates failed", got)
	}
	if got := count(`SELECT count(*) FROM cards WHERE flow = 'request'`); got != chats {
		r.t.Errorf("%d request cards; want %d (one per chat)", got, chats)
	}
	if got := count(`SELECT count(DISTINCT requester) FROM cards WHERE flow = 'request'`); got != chats {
		r.t.Errorf("cards belong to %d chats; want %d", got, chats)
	}
	if got := count(`SELECT count(*) FROM outbox`); got != wantUpdates {
		r.t.Errorf("%d answers queued; want %d (one per update)", got, wantUpdates)
	}
	if got := count(`SELECT count(*) FROM outbox WHERE status <> 'sent'`); got != 0 {
		r.t.Errorf("%d answers not sent", got)
	}
	for c := range chats {
		sent := r.api.SentTo(int64(100000 + c))
		var texts []string
		for _, s := range sent {
			texts = append(texts, s.Text)
		}
		// A message sent twice shows as the same text twice in a row.
		i := 0
		for k := range n {
			if i >= len(texts) {
				r.t.Errorf("chat %d: answer %d missing; got %q", c, k+1, texts)
				break
			}
			if !crashMatch(k, texts[i]) {
				r.t.Errorf("chat %d: answer %d = %q", c, k+1, texts[i])
				break
			}
			i++
			for i < len(texts) && texts[i] == texts[i-1] && (k+1 >= n || !crashMatch(k+1, texts[i])) {
				extra++
				i++
			}
		}
		if i < len(texts) {
			r.t.Errorf("chat %d: %d answers more than updates: %q", c, len(texts)-i, texts[i:])
		}
	}
	return extra
}

func crashMatch(k int, text string) bool {
	if k < len(crashAnswers) {
		return crashAnswers[k].MatchString(text)
	}
	return crashStatus.MatchString(text)
}

func crashSizes() (chats, n, kills int) {
	if os.Getenv("SEWA_CRASH_FULL") != "" {
		return 50, 20, 20
	}
	return 20, 10, 5
}

// kill -9 at random moments while sewa works through a burst, restart, and
// again: afterwards every update was handled exactly once and every answer
// delivered. An answer Telegram accepted but that was not yet recorded as
// sent when the process died is sent again after the restart (the Bot API
// has no idempotency key); those are counted, never hidden, and bounded by
// one per kill (the sender has one message in flight at a time).
func TestKill9(t *testing.T) {
	chats, n, kills := crashSizes()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SEWA_CRASH_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("%d chats × %d updates, %d kills, seed %d (SEWA_CRASH_SEED)", chats, n, kills, seed)
	rng := rand.New(rand.NewPCG(seed, 9))
	r := newCrashRig(t)
	// The updates arrive during the first kills (not all before the first
	// start), so that kills land while batches are being committed too, and
	// not only while answers are being sent.
	fed := make(chan int64, 1)
	go func() { fed <- r.burst(chats, n, time.Duration(kills)*600*time.Millisecond) }()
	t0 := time.Now()
	for k := range kills {
		r.start()
		// From right after start (mid start-up) to well into the work.
		wait := time.Duration(100+rng.IntN(1900)) * time.Millisecond
		time.Sleep(wait)
		r.alive()
		r.kill()
		t.Logf("kill %d after %s: %d updates confirmed, %d answers delivered", k+1, wait, max(r.api.Confirmed()-firstUpdateID, 0), len(r.api.Sent()))
	}
	last := <-fed
	r.start()
	r.waitDone(chats, n, last, 3*time.Minute)
	r.stop()
	extra := r.check(chats, n, chats*n)
	st := r.api.Stats()
	t.Logf("%d updates, %d answers, %d kills in %s: %d answers delivered twice (the send/record window), %d 429s from the fake's limiter",
		chats*n, chats*n, kills, time.Since(t0).Round(time.Millisecond), extra, st.RateLimited)
	if extra > kills {
		t.Errorf("%d answers delivered twice; at most one per kill (%d) can be in flight", extra, kills)
	}
	if st.RateLimited != 0 {
		t.Errorf("the fake refused %d sends over Telegram's limits", st.RateLimited)
	}
}

// Faults while sewa works through a burst: about one Bot API call in ten is
// answered 429, 500, or not at all (the connection drops), and the database
// is made busy now and then by a second connection holding the write lock.
// Nothing is lost, nothing doubled, and the process never exits.
func TestFaults(t *testing.T) {
	chats, n := 20, 8
	r := newCrashRig(t)
	r.start()
	deadline := time.Now().Add(20 * time.Second)
	for !r.api.Polling() {
		r.alive()
		if time.Now().After(deadline) {
			t.Fatal("sewa did not start polling")
		}
		time.Sleep(10 * time.Millisecond)
	}
	rng := rand.New(rand.NewPCG(3, 10))
	faults := []fakeapi.Failure{fakeapi.TooManyRequests(1), fakeapi.ServerError, fakeapi.BadGateway, fakeapi.Dropped}
	for range 40 {
		r.api.FailLater("", 5+rng.IntN(9), 1, faults[rng.IntN(len(faults))])
	}
	last := r.burst(chats, n, 0)

	// The database busy: a second connection takes the write lock for
	// 700ms, five times, while sewa works.
	lockDone := make(chan error, 1)
	go func() {
		db, err := sql.Open("sqlite", "file:"+r.db()+"?_pragma=busy_timeout(10000)&_txlock=immediate")
		if err != nil {
			lockDone <- err
			return
		}
		defer db.Close()
		for i := range 5 {
			time.Sleep(300 * time.Millisecond)
			tx, err := db.Begin()
			if err != nil {
				lockDone <- err
				return
			}
			if _, err := tx.Exec(`INSERT INTO cursors (name, value) VALUES (?, 1)`, fmt.Sprint("lock", i)); err != nil {
				tx.Rollback()
				lockDone <- err
				return
			}
			time.Sleep(700 * time.Millisecond)
			tx.Rollback()
		}
		lockDone <- nil
	}()
	r.waitDone(chats, n, last, 2*time.Minute)
	if err := <-lockDone; err != nil {
		t.Fatalf("the locking connection: %v", err)
	}
	r.alive()
	r.stop()
	if extra := r.check(chats, n, chats*n); extra != 0 {
		t.Errorf("%d answers delivered twice", extra)
	}
	var failed int
	for _, c := range r.api.Calls("") {
		if c.Status == 429 || c.Status >= 500 || c.Status == 0 && c.Method != "getUpdates" {
			failed++
		}
	}
	t.Logf("%d Bot API calls failed on purpose; the database was locked 5 × 700ms", failed)
	if failed < 15 {
		t.Errorf("only %d calls failed; the faults were not injected", failed)
	}
	if !strings.Contains(strings.Join(r.logs, ""), "level=WARN") {
		t.Error("sewa logged no warning about the faults")
	}
}

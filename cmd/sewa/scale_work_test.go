package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"sewa/bot"
	"sewa/bot/telegram"
	"sewa/bot/telegram/fakeapi"
	"sewa/internal/pgtest"
	"sewa/store"
)

// Three sewa processes on one PostgreSQL database doing the group's work
// together, one of them killed with SIGKILL as the burst begins and
// started again. Telegram runs in webhook mode behind a load balancer
// (hookProxy), so every process handles updates, several at once: six
// treasurers, who applied with /volunteer and were approved by a
// coordinator, send /next at the same moment from their chats and work the
// donations — made by POST /sms sent to all three processes at once —
// through identify and collect; the last answer of each, which makes the
// receipt, goes to each process in turn. Stale-card reminders (the donation
// stages go stale after 2s, checked every second) and the daily digest go
// out from whichever process holds the scheduler lease. The process killed
// is one that does not hold it, and it dies while it handles a /next of the
// burst and while it sends a message (one the fake holds), so that the
// update is delivered again elsewhere and the message is sent by another
// process once the dead one's claim lapses. Afterwards:
//
//   - every update was handled once (one inbound row per update_id), though
//     the proxy posted every fifth to two processes at once and one was in
//     flight to the process that was killed;
//   - every outbox row was delivered, in its chat's order, and once, except
//     at most one message the killed process may have sent without living
//     to record it (the Bot API has no idempotency key): counted, not hidden;
//   - no card was claimed twice in one stage entry, the volunteer who
//     finished a stage is the one who claimed it, and no two volunteers were
//     shown the same card's task;
//   - receipt numbers are 2026-27/0001…N (the financial year of the SMS's
//     date) without gap or repeat, one per donation, made in several
//     processes, and each receipt file was sent once;
//   - no reminder was recorded twice for a card, stage entry and level, no
//     chat was told about a card's stage twice, every recorded reminder was
//     sent, and one process sent them all; the daily digest went out once.
//
// It takes about 40s, most of it waiting for Telegram's per-chat rate
// (1 message a second) and for the dead process's claim to lapse (its
// process lease, 20s).
func TestSeveralProcessesShareTheWork(t *testing.T) {
	if _, ok := pgtest.URL(t); !ok {
		return
	}
	const (
		treasurers = 6
		donations  = 6
		coord      = int64(900001)
		hookPath   = "/tg/hook"
	)
	t0 := time.Now()
	w := newScaleWorld(t, hookPath, coord)
	st := w.st

	// A coordinator, then volunteers who apply and are approved as
	// treasurers (and callers) by the coordinator.
	w.say(coord, "/help")
	w.waitDB("the coordinator's contact", `SELECT count(*) FROM contacts WHERE channel = 'tg' AND address = ?`, 1, strconv.FormatInt(coord, 10))
	var chats []int64
	for i := range treasurers {
		chat := int64(910001 + i)
		chats = append(chats, chat)
		for _, text := range []string{"/volunteer", "Treasurer " + string(rune('A'+i)), fmt.Sprintf("98765%05d", i+1), "Okhla", "treasurer", "Hindi, English", "evenings"} {
			w.say(chat, text)
		}
	}
	apps := map[int64]string{}
	deadline := time.Now().Add(30 * time.Second)
	for len(apps) < treasurers {
		for _, chat := range chats {
			var id string
			err := st.DB().QueryRow(`SELECT c.id FROM cards c JOIN contacts k ON k.id = c.requester
				WHERE c.flow = 'volunteer' AND k.channel = 'tg' AND k.address = ?`, strconv.FormatInt(chat, 10)).Scan(&id)
			if err == nil {
				apps[chat] = id
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("volunteer applications: %v of %d", apps, treasurers)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, chat := range chats {
		w.say(coord, "/approve "+apps[chat]+" treasurer caller")
	}
	w.waitDB("the treasurers' approval", `SELECT count(*) FROM contacts WHERE channel = 'tg' AND roles LIKE '%treasurer%'`, treasurers)

	// The bank SMS, each posted to all three processes at once: one card
	// per credit, made in whichever process came first.
	var wg sync.WaitGroup
	type smsAnswer struct {
		credit, code int
		err          error
	}
	answers := make(chan smsAnswer, 3*donations)
	for k := range donations {
		text := fmt.Sprintf("Dear Customer, Acct XX3344 is credited with Rs %d.00 on %02d-Apr-26 from payer%d@okaxis. UPI:6101220044%02d-HDFC Bank.", 1000+100*k, 10+k, k, k)
		for _, addr := range w.addrs {
			wg.Go(func() {
				code, err := postSMSStatus(addr, text)
				answers <- smsAnswer{k, code, err}
			})
		}
	}
	wg.Wait()
	close(answers)
	created := map[int]int{}
	for a := range answers {
		if a.err != nil {
			t.Fatal(a.err)
		}
		if a.code == http.StatusCreated {
			created[a.credit]++
		}
	}
	for k := range donations {
		if created[k] != 1 {
			t.Errorf("credit %d: %d of 3 POST /sms answered 201 Created; want exactly 1", k, created[k])
		}
	}
	setup := time.Since(t0)

	// The burst: every treasurer sends /next at once and works what they
	// get; one process is killed as it begins and started again.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	killed := make(chan scaleKill, 1)
	ready := make(chan struct{})
	go func() { killed <- w.killOneMidBurst(ctx, ready) }()
	<-ready
	work := make(chan error, treasurers)
	for _, chat := range chats {
		go func() { work <- w.treasurer(ctx, chat) }()
	}
	for range treasurers {
		if err := <-work; err != nil {
			t.Error(err)
		}
	}
	k := <-killed
	if k.err != nil {
		t.Error(k.err)
	}
	if t.Failed() {
		// What went wrong may show in the claims.
		w.checkClaims(w.unmatchedSends())
		t.FailNow()
	}
	worked := time.Since(t0) - setup

	// Everything delivered: the fake has nothing queued, the proxy nothing
	// in hand, the outbox nothing pending.
	deadline = time.Now().Add(60 * time.Second)
	for {
		w.alive()
		pending := w.q(`SELECT count(*) FROM outbox WHERE status = 'pending'`)
		if w.api.Pending() == 0 && w.proxy.Idle() && pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not drained: %d updates at the fake, proxy idle %v, %d answers pending", w.api.Pending(), w.proxy.Idle(), pending)
		}
		time.Sleep(50 * time.Millisecond)
	}
	drained := time.Since(t0) - setup - worked
	w.stopAll()

	// Every update handled once.
	if got, want := w.q(`SELECT count(*) FROM inbound WHERE channel = 'tg'`), len(w.updates()); got != want {
		t.Errorf("%d updates handled; want %d", got, want)
	}
	handled := map[string]bool{}
	rows, err := st.DB().Query(`SELECT external_id FROM inbound WHERE channel = 'tg'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		rows.Scan(&id)
		handled[id] = true
	}
	rows.Close()
	for _, id := range w.updates() {
		if !handled[strconv.FormatInt(id, 10)] {
			t.Errorf("update %d was never handled", id)
		}
	}
	if got := w.q(`SELECT count(*) FROM inbound WHERE failed IS NOT NULL`); got != 0 {
		t.Errorf("%d updates failed", got)
	}

	// Every answer delivered once, in order.
	sends := w.checkDeliveries()

	w.checkClaims(sends)
	w.checkReceipts(sends, donations)
	w.checkReminders(sends, coord)

	if got := w.q(`SELECT count(*) FROM cards WHERE flow = 'donation' AND (open = 1 OR stage <> 'receipted')`); got != 0 {
		t.Errorf("%d donations not receipted", got)
	}
	if got := w.q(`SELECT count(*) FROM cards WHERE assignee IS NOT NULL AND open = 0`); got != 0 {
		t.Errorf("%d closed cards still held", got)
	}
	if got := w.q(`SELECT count(*) FROM card_seq s WHERE s.last <> (SELECT count(*) FROM cards c WHERE c.id LIKE s.prefix || '-%')`); got != 0 {
		t.Errorf("card numbers have gaps or repeats under %d prefixes", got)
	}
	senders := w.q(`SELECT count(DISTINCT claimed_by) FROM outbox WHERE status = 'sent'`)
	if senders < 3 {
		t.Errorf("the answers were sent by %d process(es); all (and the restarted one) drain the outbox", senders)
	}
	var perRun []string
	for i, p := range w.runs {
		n := w.q(`SELECT count(*) FROM outbox WHERE status = 'sent' AND claimed_by LIKE ?`, fmt.Sprintf("%%:%d:%%", p.cmd.Process.Pid))
		perRun = append(perRun, fmt.Sprintf("run %d (process %d): %d", i+1, p.slot+1, n))
	}
	t.Logf("messages sent per process run: %s", strings.Join(perRun, ", "))
	ps, perBackend := w.proxy.Stats()
	for b, n := range perBackend {
		if n == 0 {
			t.Errorf("process %d handled no webhook request", b+1)
		}
	}
	if ps.Updates != len(w.updates()) {
		t.Errorf("the proxy took %d updates from the fake; %d were sent", ps.Updates, len(w.updates()))
	}
	// A send the fake held for seconds (to catch the victim in one) in a
	// process that was spared is followed at once by that process's next
	// send to the chat: its pacer counts the per-chat gap from the start of
	// a call (bot/outbox.go, pacer.sent), the fake from when it takes the
	// message, so that next send may be refused once, and is retried.
	if st := w.api.Stats(); st.RateLimited > k.heldElsewhere {
		t.Errorf("the fake refused %d sends over Telegram's limits (%d after a send it held)", st.RateLimited, k.heldElsewhere)
	} else if st.RateLimited > 0 {
		t.Logf("the fake refused %d send(s) over the per-chat limit, right after a send it held for seconds", st.RateLimited)
	}
	t.Logf("killed process %d %s after a webhook request to it began (%d request(s) in flight, %d outbox row(s) being sent, caught in a held send: %v) and started it again",
		k.slot+1, k.delay.Round(10*time.Microsecond), k.inflight, k.claimed, k.stuck)
	t.Logf("proxy: %d updates, %d posts (%d to two processes at once on purpose, %d again after a post that may have reached a process, %d refused, %d unanswered, %d not 2xx); 2xx per process %v",
		ps.Updates, ps.Posts, ps.Doubled, ps.Redelivered, ps.Refused, ps.Unanswered, ps.NotOK, perBackend)
	t.Logf("%d treasurers, %d donations, %d updates, %d messages sent by %d processes: setup %s, work %s, drain %s, total %s",
		treasurers, donations, len(w.updates()), len(w.api.Sent()), senders,
		setup.Round(time.Millisecond), worked.Round(time.Millisecond), drained.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
}

// scaleWorld is the test's side of TestSeveralProcessesShareTheWork: the
// fake Bot API, the webhook proxy, the three process slots and a store on
// the same database to look at.
type scaleWorld struct {
	t     *testing.T
	bin   string
	dir   string
	env   []string
	addrs []string
	api   *fakeapi.Server
	proxy *hookProxy
	st    *store.Store

	mu    sync.Mutex
	procs []*scaleProc // the running process of each slot
	runs  []*scaleProc // every process started, for the logs
	ids   []int64      // every update_id queued
	rr    int          // the process the next receipt is made in
}

type scaleProc struct {
	slot   int
	cmd    *exec.Cmd
	log    *syncWriter
	exited chan struct{}
	err    error
}

const scaleHookSecret = "scale_hook_s3cret"

func newScaleWorld(t *testing.T, hookPath string, coord int64) *scaleWorld {
	t.Helper()
	dsn := pgtest.Fresh(t, t.Name())
	dir := t.TempDir()
	w := &scaleWorld{t: t, dir: dir, bin: sewaBinary(t, dir)}
	for range 3 {
		w.addrs = append(w.addrs, freeAddr(t))
	}
	w.proxy = newHookProxy(t, hookPath, w.addrs)
	w.api = fakeapi.New(t, crashToken, fakeapi.WithLimits(30, 1))

	// The built-in flows, with donations going stale after two seconds.
	show := exec.Command(w.bin, "flows", "show")
	yaml, err := show.Output()
	if err != nil {
		t.Fatalf("sewa flows show: %v", err)
	}
	for _, stage := range []string{"identify", "collect"} {
		re := regexp.MustCompile(`(?s)(\n\s*- id: ` + stage + `\n.*?\n\s*stale_after: )\S+`)
		if len(re.FindAllIndex(yaml, -1)) != 1 {
			t.Fatalf("the built-in flows have no one stage %s with a stale_after", stage)
		}
		yaml = re.ReplaceAll(yaml, []byte("${1}2s"))
	}
	flowFile := filepath.Join(dir, "flows.yaml")
	if err := os.WriteFile(flowFile, yaml, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(w.bin, "flows", "check", flowFile).CombinedOutput(); err != nil {
		t.Fatalf("sewa flows check: %v\n%s", err, out)
	}

	w.env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TMPDIR=" + dir,
		"SEWA_DB=" + dsn, "SEWA_DATA=" + filepath.Join(dir, "data"), "SEWA_CONSOLE=0", "SEWA_TZ=UTC",
		"TELEGRAM_TOKEN=" + crashToken, "TELEGRAM_API_URL=" + w.api.URL(),
		"TELEGRAM_WEBHOOK_URL=" + w.proxy.URL(), "TELEGRAM_WEBHOOK_SECRET=" + scaleHookSecret,
		"SEWA_SMS_TOKEN=sms-secret", "SEWA_COORDINATORS=tg:" + strconv.FormatInt(coord, 10),
		"SEWA_FLOWS=" + flowFile, "SEWA_REMINDER_SCHEDULE=@every 1s", "SEWA_QUIET_HOURS=off", "SEWA_DIGEST_AT=00:00",
		"SEWA_ORG_NAME=Sewa Relief Trust", "SEWA_ORG_ADDRESS=12 Lodhi Road, New Delhi 110003",
		"SEWA_ORG_80G=PAN AAATS1234F; 80G AAATS1234FF20214",
	}
	mig := exec.Command(w.bin, "migrate")
	mig.Env = w.env
	if out, err := mig.CombinedOutput(); err != nil || !strings.Contains(string(out), "Migrated") {
		t.Fatalf("sewa migrate: %v\n%s", err, out)
	}
	w.procs = make([]*scaleProc, 3)
	t.Cleanup(func() {
		w.mu.Lock()
		procs := slices.Clone(w.procs)
		w.mu.Unlock()
		for _, p := range procs {
			if p != nil {
				p.cmd.Process.Signal(syscall.SIGKILL)
				<-p.exited
			}
		}
		if t.Failed() {
			for i, p := range w.runs {
				l := p.log.String()
				if len(l) > 8000 {
					l = "…" + l[len(l)-8000:]
				}
				t.Logf("run %d (process %d) stderr:\n%s", i+1, p.slot+1, l)
			}
		}
	})
	for slot := range 3 {
		if err := w.start(slot); err != nil {
			t.Fatal(err)
		}
	}
	w.st, err = store.OpenWith(context.Background(), dsn, store.OpenOptions{NoMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.st.Close() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		up := true
		for _, a := range w.addrs {
			up = up && httpUp(a)
		}
		if info, _ := w.api.Webhook(); up && info.URL == w.proxy.URL() {
			break
		}
		w.alive()
		if time.Now().After(deadline) {
			t.Fatal("the processes did not start serving the webhook")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return w
}

// start runs sewa in slot, on that slot's HTTP address.
func (w *scaleWorld) start(slot int) error {
	p := &scaleProc{slot: slot, log: &syncWriter{w: &bytes.Buffer{}}, exited: make(chan struct{})}
	p.cmd = exec.Command(w.bin)
	p.cmd.Dir = w.dir
	p.cmd.Env = append(slices.Clone(w.env), "SEWA_HTTP="+w.addrs[slot])
	p.cmd.Stderr = p.log
	if err := p.cmd.Start(); err != nil {
		return err
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	w.mu.Lock()
	w.procs[slot] = p
	w.runs = append(w.runs, p)
	w.mu.Unlock()
	return nil
}

// alive fails the test when a process exited by itself.
func (w *scaleWorld) alive() {
	w.t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range w.procs {
		select {
		case <-p.exited:
			w.t.Fatalf("process %d exited by itself: %v", p.slot+1, p.err)
		default:
		}
	}
}

// stopAll sends SIGTERM to every process and expects clean exits.
func (w *scaleWorld) stopAll() {
	w.t.Helper()
	w.mu.Lock()
	procs := slices.Clone(w.procs)
	w.mu.Unlock()
	for _, p := range procs {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range procs {
		select {
		case <-p.exited:
			if p.err != nil {
				w.t.Errorf("process %d exited with %v after SIGTERM", p.slot+1, p.err)
			}
		case <-time.After(30 * time.Second):
			w.t.Errorf("process %d did not stop within 30s of SIGTERM", p.slot+1)
		}
	}
}

// say queues a text from chat at the fake, as its user typing it.
func (w *scaleWorld) say(chat int64, text string) {
	id := w.api.SayText(chat, text)
	w.mu.Lock()
	w.ids = append(w.ids, id)
	w.mu.Unlock()
}

func (w *scaleWorld) nextReceiptProcess() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.rr++
	return w.rr - 1
}

func (w *scaleWorld) updates() []int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.ids)
}

// q reads one number from the database.
func (w *scaleWorld) q(query string, args ...any) int {
	w.t.Helper()
	var v int
	if err := w.st.DB().QueryRow(query, args...).Scan(&v); err != nil {
		w.t.Fatalf("%s: %v", query, err)
	}
	return v
}

// waitDB waits until query counts want.
func (w *scaleWorld) waitDB(what, query string, want int, args ...any) {
	w.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for w.q(query, args...) != want {
		w.alive()
		if time.Now().After(deadline) {
			w.t.Fatalf("%s: %s counts %d, not %d", what, query, w.q(query, args...), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var (
	// scaleTask is the first line of a task shown after /next.
	scaleTask = regexp.MustCompile(`^(D-\d+) · Donation · (Identify donor|Collect details)\n`)
	scaleNone = regexp.MustCompile(`^Nothing is waiting for you`)
	// scaleTrouble is an answer that means the script went wrong.
	scaleTrouble = regexp.MustCompile(`^(You are in the middle of|Sorry, something went wrong|I don't know the command|Please )`)
)

// treasurer is one volunteer at work: /next, then the answers of the stage
// the task shown is in, again, until no donation is open. Told that nothing
// is waiting, they wait until a card is free again (as they would for the
// offer of a new task) rather than ask again and again.
func (w *scaleWorld) treasurer(ctx context.Context, chat int64) error {
	pos := 0
	for {
		free, open, err := w.donationsLeft(ctx)
		if err != nil {
			return fmt.Errorf("chat %d: %w", chat, err)
		}
		if open == 0 {
			return nil
		}
		if free == 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("chat %d: waiting for a free card: %w", chat, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		w.say(chat, "/next")
		i, m, err := w.waitFor(ctx, chat, pos)
		if errors.Is(err, errAllDone) {
			return nil
		}
		if err != nil {
			return err
		}
		pos = i + 1
		if m == nil {
			continue
		}
		card := m[1]
		var answers []string
		switch m[2] {
		case "Identify donor":
			answers = []string{"1", "Donor of " + card, "skip"}
		case "Collect details":
			// The last answer makes the receipt; the load balancer sends it
			// to each process in turn, so receipts are numbered in all.
			email := "donor." + strings.ToLower(card) + "@example.org"
			w.proxy.Pin(email, w.nextReceiptProcess())
			answers = []string{"Asha Raman", "12 Park Street, Kolkata 700016", "ABCDE1234F", email}
		}
		for _, a := range answers {
			w.say(chat, a)
		}
	}
}

// donationsLeft counts the donations a treasurer could take now, and those
// still open.
func (w *scaleWorld) donationsLeft(ctx context.Context) (free, open int, err error) {
	err = w.st.DB().QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE assignee IS NULL AND stage IN ('identify', 'collect')), count(*)
		FROM cards WHERE flow = 'donation' AND open = 1`).Scan(&free, &open)
	return free, open, err
}

// errAllDone ends a wait for an answer that no longer matters: every
// donation is done (the answer is still delivered, and checked, later).
var errAllDone = errors.New("every donation is done")

// waitFor waits for the first message to chat at index from or later that
// is a task (its submatches) or says nothing is waiting (nil), failing on
// one that shows the script went wrong.
func (w *scaleWorld) waitFor(ctx context.Context, chat int64, from int) (int, []string, error) {
	for tick := 0; ; tick++ {
		sent := w.api.SentTo(chat)
		for i := from; i < len(sent); i++ {
			text := sent[i].Text
			if m := scaleTask.FindStringSubmatch(text); m != nil {
				return i, m, nil
			}
			if scaleNone.MatchString(text) {
				return i, nil, nil
			}
			if scaleTrouble.MatchString(text) {
				return i, nil, fmt.Errorf("chat %d was told %q", chat, text)
			}
		}
		if tick%10 == 9 {
			if _, open, err := w.donationsLeft(ctx); err == nil && open == 0 {
				return 0, nil, errAllDone
			}
		}
		select {
		case <-ctx.Done():
			var texts []string
			for _, s := range sent[min(from, len(sent)):] {
				texts = append(texts, s.Text)
			}
			return 0, nil, fmt.Errorf("chat %d: no task and no \"nothing\" after message %d: %w; since then: %q", chat, from, ctx.Err(), texts)
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// scaleKill says what killOneMidBurst did.
type scaleKill struct {
	slot  int
	delay time.Duration // after the start of a webhook request to it
	stuck bool          // it was caught in a send the fake held
	// heldElsewhere counts sends the fake held for a while in a process
	// that was not to be killed.
	heldElsewhere int
	inflight      int // webhook requests in flight to it at the kill
	claimed       int // outbox rows it was sending at the kill
	err           error
}

// killOneMidBurst picks the process to kill: one that does not hold the
// scheduler lease (its lease would outlive the test: bot/scale.go
// schedulerTTL, 3 minutes, and the reminders would stop), caught sending a
// message (the fake holds one sendMessage for a few seconds; whichever
// process made it is the victim if it may be killed, else the fake is asked
// again). Then it tells the test to start the burst (ready) and kills the
// victim (SIGKILL) 0 to 1.5ms after the first webhook request of the burst
// is made to it, so most likely while it handles that update, and starts
// it again.
func (w *scaleWorld) killOneMidBurst(ctx context.Context, ready chan<- struct{}) scaleKill {
	start := sync.OnceFunc(func() { close(ready) })
	defer start()
	// The scheduler's jobs run every second: its lease is soon taken. (If
	// nobody takes it, any process may be killed, and checkReminders says
	// who sent the reminders.)
	var holder string
	for end := time.Now().Add(5 * time.Second); holder == "" && time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		var err error
		if holder, _, err = w.st.LeaseHolder(ctx, "scheduler"); err != nil {
			return scaleKill{err: err}
		}
	}
	w.mu.Lock()
	procs := slices.Clone(w.procs)
	w.mu.Unlock()
	type candidate struct {
		p        *scaleProc
		instance string
	}
	var cands []candidate
	for _, p := range procs {
		pid := fmt.Sprintf(":%d:", p.cmd.Process.Pid)
		if holder != "" && strings.Contains(holder, pid) {
			continue
		}
		var instance string
		if err := w.st.DB().QueryRowContext(ctx, `SELECT holder FROM leases WHERE name LIKE ?`, "process:%"+pid+"%").Scan(&instance); err != nil {
			return scaleKill{err: fmt.Errorf("kill: the process lease of process %d: %w", p.slot+1, err)}
		}
		cands = append(cands, candidate{p, instance})
	}
	if len(cands) == 0 {
		return scaleKill{err: fmt.Errorf("kill: every process holds the scheduler lease %q", holder)}
	}
	// The victim is a process caught sending a message: the fake holds
	// the next sendMessage for a few seconds, and whichever process made
	// it is the victim if it may be killed (else the fake is asked again).
	victim := cands[rand.IntN(len(cands))]
	stuck, held := false, 0
	for try := 0; try < 4 && !stuck; try++ {
		w.api.FailNext("sendMessage", 1, fakeapi.Failure{Delay: 3 * time.Second})
		type claim struct {
			id int64
			by string
		}
		since := map[claim]time.Time{}
		var hold *claim
		for end := time.Now().Add(3 * time.Second); hold == nil && time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			rows, err := w.st.DB().QueryContext(ctx, `SELECT id, claimed_by FROM outbox WHERE status = 'pending' AND claimed_by IS NOT NULL`)
			if err != nil {
				break
			}
			now := map[claim]time.Time{}
			for rows.Next() {
				var c claim
				if rows.Scan(&c.id, &c.by) == nil {
					now[c] = time.Now()
					if at, ok := since[c]; ok {
						now[c] = at
						if time.Since(at) >= 300*time.Millisecond {
							hold = &c
						}
					}
				}
			}
			rows.Close()
			since = now
		}
		if hold == nil {
			held++ // the fake may still hold a later send, anywhere
			continue
		}
		for _, c := range cands {
			if c.instance == hold.by {
				victim, stuck = c, true
			}
		}
		if stuck {
			break
		}
		// Held by the scheduler's process: wait for it to be sent.
		held++
		for pending, end := 1, time.Now().Add(4*time.Second); pending == 1 && time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if w.st.DB().QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE id = ? AND status = 'pending'`, hold.id).Scan(&pending) != nil {
				break
			}
		}
	}
	delay := time.Duration(rand.IntN(1500)) * time.Microsecond
	k := scaleKill{slot: victim.p.slot, delay: delay, stuck: stuck, heldElsewhere: held}
	fired := make(chan struct{})
	kill := sync.OnceFunc(func() {
		k.inflight = w.proxy.Inflight(victim.p.slot)
		victim.p.cmd.Process.Signal(syscall.SIGKILL)
		close(fired)
	})
	w.proxy.Arm(victim.p.slot, func() {
		time.Sleep(delay)
		kill()
	})
	start()
	select {
	case <-fired:
	case <-time.After(2 * time.Second):
		kill()
	}
	w.proxy.Arm(victim.p.slot, nil)
	<-victim.p.exited
	// Rows it claimed and did not record as sent stay claimed until its
	// process lease runs out; then another process sends them.
	w.st.DB().QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE status = 'pending' AND claimed_by = ?`, victim.instance).Scan(&k.claimed)
	time.Sleep(300 * time.Millisecond)
	if err := w.start(k.slot); err != nil {
		k.err = err
	}
	return k
}

func postSMSStatus(addr, text string) (int, error) {
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/sms", strings.NewReader(text))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer sms-secret")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusCreated {
		return res.StatusCode, fmt.Errorf("POST /sms to %s: %s", addr, res.Status)
	}
	return res.StatusCode, nil
}

// delivered is one message at the fake with the outbox row it delivers.
type delivered struct {
	fakeapi.Sent
	row int64 // 0 for a second copy of the one after it
}

// checkDeliveries matches every message the fake got with the outbox row it
// delivers: each sent row's message (by the message_id recorded with it)
// and its earlier parts, in the chat's order. A message no row accounts for
// must be a copy of the next one in its chat: the row the killed process
// sent but did not live to record, sent again by another. It returns each
// chat's messages, copies marked.
func (w *scaleWorld) checkDeliveries() map[int64][]delivered {
	t := w.t
	t.Helper()
	type part struct{ method, text string }
	type row struct {
		id    int64
		parts []part
		ext   int
	}
	byChat := map[int64][]row{}
	rows, err := w.st.DB().Query(`SELECT id, address, body, status, coalesce(external_id, '') FROM outbox WHERE channel = 'tg' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		var addr, body, status, ext string
		if err := rows.Scan(&id, &addr, &body, &status, &ext); err != nil {
			t.Fatal(err)
		}
		if status != "sent" {
			t.Errorf("outbox row %d to %s: %s", id, addr, status)
			continue
		}
		chat, _ := strconv.ParseInt(addr, 10, 64)
		var out bot.Outgoing
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatalf("outbox row %d: %v", id, err)
		}
		calls, err := telegram.Render(chat, out)
		if err != nil {
			t.Fatalf("outbox row %d: %v", id, err)
		}
		r := row{id: id}
		r.ext, _ = strconv.Atoi(ext)
		for _, c := range calls {
			switch c := c.(type) {
			case tgbotapi.MessageConfig:
				r.parts = append(r.parts, part{"sendMessage", c.Text})
			case tgbotapi.DocumentConfig:
				r.parts = append(r.parts, part{"sendDocument", c.Caption})
			case tgbotapi.PhotoConfig:
				r.parts = append(r.parts, part{"sendPhoto", c.Caption})
			default:
				t.Fatalf("outbox row %d: a %T", id, c)
			}
		}
		byChat[chat] = append(byChat[chat], r)
	}
	rows.Close()

	out := map[int64][]delivered{}
	all := map[int64]bool{}
	for chat := range byChat {
		all[chat] = true
	}
	for _, s := range w.api.Sent() {
		all[s.ChatID] = true
	}
	copies := 0
	for chat := range all {
		sent := w.api.SentTo(chat)
		ds := make([]delivered, len(sent))
		at := map[int]int{} // message_id → index
		for i, s := range sent {
			ds[i].Sent = s
			at[s.MessageID] = i
		}
		last := -1
		for _, r := range byChat[chat] {
			i, ok := at[r.ext]
			if !ok {
				t.Errorf("chat %d: outbox row %d was recorded as message %d, which the fake never got", chat, r.id, r.ext)
				continue
			}
			first := i - len(r.parts) + 1
			if first <= last {
				t.Errorf("chat %d: outbox row %d was delivered out of order (message %d)", chat, r.id, r.ext)
				continue
			}
			for k, p := range r.parts {
				s := sent[first+k]
				if !strings.EqualFold(s.Method, p.method) || s.Text != p.text {
					t.Errorf("chat %d: outbox row %d part %d: the fake got %s %q, not %s %q", chat, r.id, k+1, s.Method, s.Text, p.method, p.text)
				}
				ds[first+k].row = r.id
			}
			last = i
		}
		for i, d := range ds {
			if d.row != 0 {
				continue
			}
			if i+1 < len(ds) && ds[i+1].row != 0 && ds[i+1].Method == d.Method && ds[i+1].Text == d.Text && ds[i+1].File == d.File {
				copies++
				t.Logf("chat %d: message %d %q was delivered twice (the row the killed process sent but did not record)", chat, d.MessageID, firstLine(d.Text))
				continue
			}
			t.Errorf("chat %d: the fake got %s %q (message %d), which no outbox row accounts for", chat, d.Method, d.Text, d.MessageID)
		}
		out[chat] = ds
	}
	if copies > 1 {
		t.Errorf("%d messages delivered twice; only the one in flight when the process died may be", copies)
	}
	w.t.Logf("%d outbox rows delivered; %d delivered twice (the send/record window of the killed process)", w.q(`SELECT count(*) FROM outbox WHERE channel = 'tg'`), copies)
	return out
}

// unmatchedSends is every chat's messages, not matched with the outbox
// (row -1): for a look at a test that failed before it could match them.
func (w *scaleWorld) unmatchedSends() map[int64][]delivered {
	out := map[int64][]delivered{}
	for _, s := range w.api.Sent() {
		out[s.ChatID] = append(out[s.ChatID], delivered{Sent: s, row: -1})
	}
	return out
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// checkClaims: in each stage entry of a donation card, one claim; the one
// who moved the card on is the one who claimed it; and each card's task was
// shown in one chat only.
func (w *scaleWorld) checkClaims(sends map[int64][]delivered) {
	t := w.t
	t.Helper()
	type entry struct{ card, stage string }
	rows, err := w.st.DB().Query(`SELECT card_id, from_stage, to_stage, actor, what FROM card_events WHERE card_id LIKE 'D-%' ORDER BY card_id, id`)
	if err != nil {
		t.Fatal(err)
	}
	claims := map[entry][]string{} // who claimed, per stage entry
	finisher := map[entry]string{}
	entered := map[entry]int{}
	for rows.Next() {
		var card, from, to, actor, what string
		if err := rows.Scan(&card, &from, &to, &actor, &what); err != nil {
			t.Fatal(err)
		}
		who, _, _ := strings.Cut(actor, " ")
		if from != to {
			entered[entry{card, to}]++
			if from != "" {
				finisher[entry{card, from}] = who
			}
		}
		if from == to && (strings.HasPrefix(what, "taken until") || strings.Contains(what, "; taken until")) {
			claims[entry{card, to}] = append(claims[entry{card, to}], who)
		}
	}
	rows.Close()
	cards := 0
	for e, n := range entered {
		if e.stage != "identify" && e.stage != "collect" {
			continue
		}
		cards++
		if n != 1 {
			t.Errorf("%s entered %s %d times; this workload enters each stage once", e.card, e.stage, n)
		}
		switch c := claims[e]; {
		case len(c) > 1:
			t.Errorf("%s at %s was claimed %d times: %v", e.card, e.stage, len(c), c)
		case len(c) == 0 && finisher[e] != "":
			t.Errorf("%s at %s was finished by %s without a claim", e.card, e.stage, finisher[e])
		case len(c) == 1 && finisher[e] != "" && finisher[e] != c[0]:
			t.Errorf("%s at %s was claimed by %s but finished by %s", e.card, e.stage, c[0], finisher[e])
		}
	}
	// What the volunteers saw: a card's task in one chat only, the one that
	// claimed it.
	shown := map[entry]map[int64]bool{}
	for chat, ds := range sends {
		for _, d := range ds {
			if m := scaleTask.FindStringSubmatch(d.Text); m != nil && d.row != 0 {
				stage := map[string]string{"Identify donor": "identify", "Collect details": "collect"}[m[2]]
				e := entry{m[1], stage}
				if shown[e] == nil {
					shown[e] = map[int64]bool{}
				}
				shown[e][chat] = true
			}
		}
	}
	for e, in := range shown {
		if len(in) != 1 {
			t.Errorf("%s at %s was shown as a task in %d chats: %v", e.card, e.stage, len(in), in)
			continue
		}
		for chat := range in {
			if c := claims[e]; len(c) == 1 && c[0] != "tg:"+strconv.FormatInt(chat, 10) {
				t.Errorf("%s at %s was shown to chat %d but claimed by %s", e.card, e.stage, chat, c[0])
			}
		}
	}
	if len(shown) != cards {
		t.Errorf("%d tasks shown for %d stage entries worked", len(shown), cards)
	}
	none := 0
	for _, ds := range sends {
		for _, d := range ds {
			if scaleNone.MatchString(d.Text) {
				none++
			}
		}
	}
	t.Logf("%d stage entries of donations each claimed once and finished by their claimer; %d times /next found nothing free", cards, none)
}

var scaleReceiptCaption = regexp.MustCompile(`^Receipt (\d{4}-\d{2}/\d{4}) for (D-\d+):`)

// checkReceipts: receipts 2026-27/0001…n, one per donation, each file sent
// once, made in more than one process.
func (w *scaleWorld) checkReceipts(sends map[int64][]delivered, n int) {
	t := w.t
	t.Helper()
	rows, err := w.st.DB().Query(`SELECT number, fy, seq, card_id, path FROM receipts ORDER BY fy, seq`)
	if err != nil {
		t.Fatal(err)
	}
	var numbers []string
	byCard := map[string]string{}
	for rows.Next() {
		var number, fy, card, path string
		var seq int
		if err := rows.Scan(&number, &fy, &seq, &card, &path); err != nil {
			t.Fatal(err)
		}
		numbers = append(numbers, number)
		if byCard[card] != "" {
			t.Errorf("%s has two receipts: %s and %s", card, byCard[card], number)
		}
		byCard[card] = number
		if _, err := os.Stat(path); err != nil {
			t.Errorf("receipt %s: %v", number, err)
		}
	}
	rows.Close()
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("2026-27/%04d", i+1))
	}
	if !slices.Equal(numbers, want) {
		t.Errorf("receipt numbers %v; want %v", numbers, want)
	}
	files := map[string]int{}
	for _, ds := range sends {
		for _, d := range ds {
			if m := scaleReceiptCaption.FindStringSubmatch(d.Text); m != nil && d.row != 0 {
				files[m[1]]++
				if file := "receipt-" + strings.ReplaceAll(m[1], "/", "-") + ".pdf"; d.Method != "sendDocument" || d.File != file {
					t.Errorf("receipt %s came as %s of %q, not the document %s", m[1], d.Method, d.File, file)
				}
				if byCard[m[2]] != m[1] {
					t.Errorf("receipt %s was sent for %s, whose receipt is %q", m[1], m[2], byCard[m[2]])
				}
			}
		}
	}
	for _, number := range numbers {
		if files[number] != 1 {
			t.Errorf("receipt %s was sent %d times", number, files[number])
		}
	}
	made := w.logged(regexp.MustCompile(`msg="receipt made" card=(D-\d+) receipt=(\S+)`))
	var in []string
	for _, m := range made {
		again := ""
		if m.run >= 3 {
			again = " (restarted)"
		}
		in = append(in, fmt.Sprintf("%s in process %d%s", m.match[2], m.slot+1, again))
	}
	sort.Strings(in)
	t.Logf("receipts %s: %s", strings.Join(numbers, ", "), strings.Join(in, "; "))
	if len(made) != len(numbers) {
		t.Errorf("%d \"receipt made\" log lines for %d receipts", len(made), len(numbers))
	}
	slots := map[int]bool{}
	for _, m := range made {
		slots[m.slot] = true
	}
	if len(slots) < 2 {
		// The load balancer sends the last answers to each in turn; one
		// that finds its process dead goes to the next.
		t.Errorf("receipts were made in %d of the 3 processes; the test means them to be made in all", len(slots))
	}
}

// checkReminders: none recorded twice, each told once to the one it was
// for (the holder's chat, the coordinator's), and the digest once.
func (w *scaleWorld) checkReminders(sends map[int64][]delivered, coord int64) {
	t := w.t
	t.Helper()
	if got := w.q(`SELECT count(*) FROM (SELECT 1 FROM reminders GROUP BY card_id, stage_entered_at, level HAVING count(*) > 1) AS g`); got != 0 {
		t.Errorf("%d reminders recorded twice", got)
	}
	titles := map[string]string{"identify": "Identify donor", "collect": "Collect details"}
	type told struct {
		chat        int64
		card, stage string
	}
	want := map[told]int{}
	rows, err := w.st.DB().Query(`SELECT r.card_id, r.stage, r.level, coalesce(k.address, '') FROM reminders r LEFT JOIN contacts k ON k.id = r.contact_id`)
	if err != nil {
		t.Fatal(err)
	}
	levels := map[string]int{}
	for rows.Next() {
		var card, stage, level, addr string
		if err := rows.Scan(&card, &stage, &level, &addr); err != nil {
			t.Fatal(err)
		}
		levels[level]++
		chat := coord
		if level == store.RemindHolder {
			chat, _ = strconv.ParseInt(addr, 10, 64)
		}
		want[told{chat, card, titles[stage]}]++
	}
	rows.Close()
	line := regexp.MustCompile(`(?m)^(D-\d+) · ([^·]+) · `)
	got := map[told]int{}
	digests := 0
	for chat, ds := range sends {
		for _, d := range ds {
			if d.row == 0 {
				continue
			}
			if strings.HasPrefix(d.Text, "Daily summary") && chat == coord {
				digests++
			}
			if !strings.HasPrefix(d.Text, "Reminder: ") && !strings.HasPrefix(d.Text, "Stale cards (") {
				continue
			}
			for _, m := range line.FindAllStringSubmatch(d.Text, -1) {
				got[told{chat, m[1], strings.TrimSpace(m[2])}]++
			}
		}
	}
	for k, n := range got {
		if n != 1 {
			t.Errorf("chat %d was told %d times that %s is stale at %s", k.chat, n, k.card, k.stage)
		}
		if want[k] != 1 {
			t.Errorf("chat %d was told that %s is stale at %s, which the reminders table records %d times for it", k.chat, k.card, k.stage, want[k])
		}
	}
	for k := range want {
		if got[k] == 0 {
			t.Errorf("the reminder of %s at %s to chat %d was recorded but never sent", k.card, k.stage, k.chat)
		}
	}
	if levels[store.RemindHolder] == 0 || levels[store.RemindCoordinators] == 0 {
		t.Errorf("reminders sent: %v; the workload should make both levels happen", levels)
	}
	if digests != 1 {
		t.Errorf("the coordinator got %d daily digests; want 1", digests)
	}
	// The scheduler lease's holder was spared and its lease outlives the
	// test: one process sent every reminder.
	by := w.logged(regexp.MustCompile(`msg="stale card reminder" card=(D-\d+)`))
	if countRuns(by) != 1 {
		t.Errorf("reminders were sent by %d processes; the scheduler lease lets one run the jobs", countRuns(by))
	}
	t.Logf("reminders: %d to holders, %d to coordinators, sent by %d process(es); %d digest(s)", levels[store.RemindHolder], levels[store.RemindCoordinators], countRuns(by), digests)
}

type logMatch struct {
	run, slot int
	match     []string
}

// logged finds re in every process run's log.
func (w *scaleWorld) logged(re *regexp.Regexp) []logMatch {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []logMatch
	for i, p := range w.runs {
		for _, m := range re.FindAllStringSubmatch(p.log.String(), -1) {
			out = append(out, logMatch{run: i, slot: p.slot, match: m})
		}
	}
	return out
}

func countRuns(ms []logMatch) int {
	runs := map[int]bool{}
	for _, m := range ms {
		runs[m.run] = true
	}
	return len(runs)
}

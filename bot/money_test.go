package bot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"sewa/bot"
	"sewa/bot/console"
	"sewa/flows"
	"sewa/store"
)

// Real alerts (from ../shared/sms-examples.jsonl and flows/testdata/sms).
const (
	smsHDFC      = "Money Received - INR 1,100.00 in your HDFC Bank A/c xx3344 on 13-03-24 from VPA chitra.n@okaxis (UPI 407312200456)"
	smsHDFCAgain = "Dear Customer, Acct XX3344 is credited with Rs 1,100.00 on 13-Mar-24 from chitra.n@okaxis. UPI:407312200456-HDFC Bank."
	smsKotak     = "Received Rs.5000.00 in your Kotak Bank A/c X2781 from bindu.p@oksbi on 15-03-24.UPI Ref:407511122990."
	smsCash      = "Update! INR 2,500.00 deposited in HDFC Bank A/c XX3344 on 16-MAR-24 for CASH DEPOSIT-ANDHERI EAST BRANCH.Avl bal INR 40,000.00."
	smsDebit     = "Rs.500.00 debited from A/c XX3344 on 14-03-24 to VPA shop@ybl UPI Ref 407412345678"
	smsOTP       = "Your OTP for transaction of Rs 2000 is 482910. Do not share."
)

var org = flows.Org{Name: "Delhi Relief Collective", Address: "B-4 Okhla Phase 2, New Delhi 110020", Registration: "80G: AAATD1234EF20214"}

// staff makes the organiser (the first console user, a coordinator) and
// gives each name the treasurer role.
func staff(t *testing.T, w *world, treasurers ...string) {
	t.Helper()
	w.say("organiser", "/start")
	for _, name := range treasurers {
		w.say(name, "hi")
		if got := w.say("organiser", "/roles "+name+" +treasurer"); !strings.Contains(strings.Join(got, "\n"), "treasurer") {
			t.Fatalf("/roles %s: %q", name, got)
		}
	}
}

func post(t *testing.T, w *world, token, contentType, body string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest("POST", "/sms", strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	w.rt.Handler().ServeHTTP(rec, req)
	var got map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("POST /sms %.30q: %d, body not JSON: %q", body, rec.Code, rec.Body)
	}
	return rec.Code, got
}

func count(t *testing.T, st *store.Store, query string, args ...any) int {
	t.Helper()
	var n int
	if err := st.DB().QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSMSWebhook(t *testing.T) {
	w := newWorld(t, bot.WithSMSToken("s3cret"))
	staff(t, w, "tara")
	huge := strings.Repeat("x", 20<<10)
	tests := []struct {
		name, token, ct, body string
		code                  int
		want                  map[string]any // fields of the JSON answer
	}{
		{"no token", "", "", smsHDFC, 401, map[string]any{"error": "send Authorization: Bearer SEWA_SMS_TOKEN"}},
		{"wrong token", "s3cre", "", smsHDFC, 401, nil},
		{"a credit as raw text", "s3cret", "text/plain", smsHDFC, 201, map[string]any{"status": "created", "card": "D-1", "stage": "identify"}},
		{"the same SMS again", "s3cret", "text/plain", smsHDFC, 200, map[string]any{"status": "duplicate", "card": "D-1"}},
		{"the same money in other words, as JSON text", "s3cret", "application/json", `{"text": "` + smsHDFCAgain + `"}`, 200, map[string]any{"status": "duplicate", "card": "D-1"}},
		{"a forwarder's message field", "s3cret", "application/json", `{"from": "VM-KOTAKB", "message": "` + smsKotak + `"}`, 201, map[string]any{"card": "D-2"}},
		{"a forwarder's body field, no content type", "s3cret", "", `{"body": "` + smsCash + `"}`, 201, map[string]any{"card": "D-3"}},
		{"a form", "s3cret", "application/x-www-form-urlencoded", "text=" + strings.ReplaceAll(smsCash, " ", "+"), 200, map[string]any{"card": "D-3"}},
		{"a debit", "s3cret", "", smsDebit, 422, map[string]any{"status": "not_a_donation", "reason": "money was sent, not received"}},
		{"an OTP", "s3cret", "", smsOTP, 422, map[string]any{"reason": "this is a one-time password"}},
		{"bad JSON", "s3cret", "application/json", `{"text": `, 400, nil},
		{"no text", "s3cret", "application/json", `{"title": "x"}`, 400, nil},
		{"empty", "s3cret", "", "  ", 400, nil},
		{"huge", "s3cret", "", huge, 413, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, got := post(t, w, tc.token, tc.ct, tc.body)
			if code != tc.code {
				t.Fatalf("status %d, want %d: %v", code, tc.code, got)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v (answer %v)", k, got[k], v, got)
				}
			}
		})
	}
	if n := count(t, w.st, `SELECT count(*) FROM cards WHERE flow = 'donation'`); n != 3 {
		t.Errorf("%d donation cards, want 3", n)
	}
	// A different wording of D-1's money is in its history; the exact
	// repeat (a forwarder retrying) is not.
	if n := count(t, w.st, `SELECT count(*) FROM card_events WHERE card_id = 'D-1' AND what LIKE 'the same money again%'`); n != 1 {
		t.Errorf("%d history lines for arrivals of D-1's money again, want 1", n)
	}
	// Each new card was offered to the treasurer.
	w.rt.Flush(context.Background(), console.Name)
	out := w.out.String()
	for _, id := range []string{"D-1", "D-2", "D-3"} {
		if !strings.Contains(out, "→ tara: New task for you: "+id+" · Identify donor") {
			t.Errorf("tara was not offered %s:\n%s", id, out)
		}
	}
}

func TestSMSWebhookDisabledWithoutToken(t *testing.T) {
	w := newWorld(t)
	code, got := post(t, w, "anything", "", smsHDFC)
	if code != 404 || !strings.Contains(fmt.Sprint(got["error"]), "disabled") {
		t.Fatalf("no token configured: %d %v, want 404 saying disabled", code, got)
	}
	if n := count(t, w.st, `SELECT count(*) FROM cards`); n != 0 {
		t.Fatalf("%d cards made", n)
	}
}

// A store that cannot write answers 500, so the forwarder sends it again.
func TestSMSWebhookStoreFailure(t *testing.T) {
	w := newWorld(t, bot.WithSMSToken("s3cret"))
	w.st.Close()
	code, got := post(t, w, "s3cret", "", smsHDFC)
	if code != 500 {
		t.Fatalf("closed store: %d %v, want 500", code, got)
	}
	w.open() // for the cleanup
}

// Without any treasurer, coordinators hear of new money.
func TestNewDonationWithoutTreasurersTellsCoordinators(t *testing.T) {
	w := newWorld(t, bot.WithSMSToken("s3cret"))
	staff(t, w)
	if code, _ := post(t, w, "s3cret", "", smsKotak); code != 201 {
		t.Fatalf("status %d", code)
	}
	w.rt.Flush(context.Background(), console.Name)
	if !strings.Contains(w.out.String(), "→ organiser: New donation D-1: ₹5,000.00 on 15 Mar 2024 from bindu.p@oksbi") {
		t.Fatalf("coordinator not told:\n%s", w.out.String())
	}
}

// The same money arriving many times at once, through two processes (two
// runtimes on one SQLite file), by HTTP, import and chat, makes one card,
// and every arrival names it.
func TestSameMoneyMakesOneCardConcurrently(t *testing.T) {
	w := newWorld(t)
	staff(t, w, "tara")
	ctx := context.Background()
	st2, set := openStoreAndFlows(t, w.path)
	defer st2.Close()
	rt2 := bot.New(st2, set, bot.WithClock(w.clock))
	texts := []string{smsHDFC, smsHDFCAgain, "Fwd: " + smsHDFC, smsCash, "  " + smsCash + "\n"}
	const n = 40
	var wg sync.WaitGroup
	results := make([]bot.SMSResult, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			rt := []*bot.Runtime{w.rt, rt2}[i%2]
			text := texts[i%len(texts)]
			if i%7 == 3 {
				// A treasurer pasting it in the chat.
				errs[i] = rt.Accept(ctx, []bot.Message{{Channel: console.Name, ExternalID: fmt.Sprint("c", i), User: "tara", Text: "/sms " + text}}, nil)
				return
			}
			results[i], errs[i] = rt.TakeSMS(ctx, text, bot.SMSSource{Via: []string{"http", "import"}[i%2], Quiet: i%2 == 1})
		})
	}
	wg.Wait()
	created := map[string]int{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("arrival %d: %v", i, errs[i])
		}
		if results[i].Status == bot.SMSCreated {
			created[results[i].Card]++
		}
	}
	if cards := count(t, w.st, `SELECT count(*) FROM cards WHERE flow = 'donation'`); cards != 2 {
		t.Fatalf("%d donation cards from 2 payments", cards)
	}
	if keys := count(t, w.st, `SELECT count(*) FROM donation_keys`); keys != 2 {
		t.Errorf("%d donation keys", keys)
	}
	var hdfc, cash string
	w.st.DB().QueryRow(`SELECT card_id FROM donation_keys WHERE key = 'ref:407312200456'`).Scan(&hdfc)
	w.st.DB().QueryRow(`SELECT card_id FROM donation_keys WHERE key LIKE 'txn:2500.00|%'`).Scan(&cash)
	for i := range n {
		r := results[i]
		if r.Status == "" {
			continue
		}
		want := hdfc
		if strings.Contains(texts[i%len(texts)], "CASH") {
			want = cash
		}
		if r.Card != want {
			t.Errorf("arrival %d (%s) named %s, want %s", i, r.Status, r.Card, want)
		}
	}
	for id, c := range created {
		if c > 1 {
			t.Errorf("%s reported created %d times", id, c)
		}
	}
}

// donationCard puts a donation card straight into a stage, as if its SMS
// and answers had come.
func donationCard(t *testing.T, w *world, stage string, fields map[string]string) string {
	t.Helper()
	f := map[string]string{"amount": "1100.00", "date": "2026-05-01", "ref": "407312200456", "sms": "UPI credit",
		"receipt_name": "Chitra Narayanan", "receipt_address": "12 Park Street, Kolkata 700016", "pan": "ABCDE1234F"}
	for k, v := range fields {
		f[k] = v
	}
	c := &store.Card{Flow: "donation", Stage: stage, Fields: f, Created: w.clock.Now(), Updated: w.clock.Now(), StageEntered: w.clock.Now()}
	if err := w.st.Tx(context.Background(), func(tx *store.Tx) error { return tx.NewCard("D", c) }); err != nil {
		t.Fatal(err)
	}
	return c.ID
}

// Receipts made at once by two processes take the numbers 1..n of their
// financial year, each once, with none skipped, even while some cards are
// refused (they take no number).
func TestReceiptNumbersNeverRepeatOrSkip(t *testing.T) {
	dir := t.TempDir()
	w := newWorld(t, bot.WithOrg(org), bot.WithDataDir(dir))
	staff(t, w)
	ctx := context.Background()
	st2, set := openStoreAndFlows(t, w.path)
	defer st2.Close()
	rt2 := bot.New(st2, set, bot.WithClock(w.clock), bot.WithOrg(org), bot.WithDataDir(dir))
	const good, bad = 30, 6
	var ids []string
	for i := range good + bad {
		fields := map[string]string{"ref": fmt.Sprint(407312200000 + i)}
		if i%6 == 5 {
			fields["receipt_name"] = "चित्रा" // refused: back to collect
		}
		ids = append(ids, donationCard(t, w, "ready", fields))
	}
	var wg sync.WaitGroup
	errs := make([]error, len(ids))
	for i, id := range ids {
		wg.Go(func() {
			rt := []*bot.Runtime{w.rt, rt2}[i%2]
			errs[i] = rt.Accept(ctx, []bot.Message{{Channel: console.Name, ExternalID: "r" + id, User: "organiser", Text: "/receipt " + id}}, nil)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("/receipt %s: %v", ids[i], err)
		}
	}
	rows, err := w.st.DB().Query(`SELECT number, seq, card_id, path FROM receipts WHERE fy = '2026-27' ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var seqs []int
	cards := map[string]bool{}
	for rows.Next() {
		var number, card, path string
		var seq int
		if err := rows.Scan(&number, &seq, &card, &path); err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
		cards[card] = true
		if number != fmt.Sprintf("2026-27/%04d", seq) {
			t.Errorf("receipt %s has seq %d", number, seq)
		}
		b, err := os.ReadFile(path)
		if err != nil || !bytes.HasPrefix(b, []byte("%PDF-")) {
			t.Errorf("receipt %s: file %s: %v", number, path, err)
		}
		var fieldNo string
		w.st.DB().QueryRow(`SELECT json_extract(fields, '$.receipt_no') FROM cards WHERE id = ?`, card).Scan(&fieldNo)
		if fieldNo != number {
			t.Errorf("card %s says receipt %q, the book says %s", card, fieldNo, number)
		}
	}
	want := make([]int, good)
	for i := range want {
		want[i] = i + 1
	}
	if !slices.Equal(seqs, want) {
		t.Fatalf("receipt numbers %v, want 1..%d each once", seqs, good)
	}
	if len(cards) != good {
		t.Errorf("%d cards have receipts, want %d", len(cards), good)
	}
	if n := count(t, w.st, `SELECT count(*) FROM cards WHERE flow = 'donation' AND stage = 'collect'`); n != bad {
		t.Errorf("%d refused cards back in collect, want %d", n, bad)
	}
	if n := count(t, w.st, `SELECT count(*) FROM cards WHERE flow = 'donation' AND stage = 'receipted' AND open = 0`); n != good {
		t.Errorf("%d cards receipted and closed, want %d", n, good)
	}
}

// A donation on 31 March is receipted in the year ending then, one on 1
// April in the next: each year has its own sequence.
func TestReceiptFinancialYearBoundary(t *testing.T) {
	w := newWorld(t, bot.WithOrg(org), bot.WithDataDir(t.TempDir()))
	staff(t, w)
	w.clock.Advance(time.Date(2027, 4, 2, 10, 0, 0, 0, time.UTC).Sub(w.clock.Now()))
	for _, tc := range []struct{ date, want string }{
		{"2027-03-31", "2026-27/0001"},
		{"2027-04-01", "2027-28/0001"},
		{"2027-03-30", "2026-27/0002"},
		{"", "2027-28/0002"}, // no date in the SMS: the day it is receipted
	} {
		id := donationCard(t, w, "ready", map[string]string{"date": tc.date, "ref": "ref-" + tc.date})
		got := strings.Join(w.say("organiser", "/receipt "+id), "\n")
		if !strings.Contains(got, "Receipt "+tc.want+" for "+id) {
			t.Errorf("donation of %q: %s", tc.date, got)
		}
	}
}

// The whole lifecycle with a donor who is on chat: the receipt goes to
// them as a document, they can follow the donation with /mystatus, and a
// coordinator can send it again (drawn again, the same, if the file was lost).
func TestReceiptSentToDonorAndResent(t *testing.T) {
	dir := t.TempDir()
	w := newWorld(t, bot.WithOrg(org), bot.WithDataDir(dir))
	staff(t, w, "tara")
	ctx := context.Background()
	// The donor wrote to the group once and shared their number.
	if err := w.rt.Accept(ctx, []bot.Message{{Channel: console.Name, ExternalID: "d1", User: "chitra", Name: "Chitra", Text: "hello", Phone: "+91 98123 45678"}}, nil); err != nil {
		t.Fatal(err)
	}
	w.rt.Flush(ctx, console.Name)
	w.out.Reset()
	steps := []struct{ text, want string }{
		{"/sms " + smsHDFC, "Donation D-1: ₹1,100.00"},
		{"/accept D-1", "Who sent this money?"},
		{"1", "Donor's name?"},
		{"Chitra Narayanan", "Donor's mobile number?"},
		{"+5m", ""},
		{"9812345678", "D-1 is now at: Collect details"},
		{"/accept D-1", "Full name for the receipt"},
		{"Chitra Narayanan", "Postal address"},
		{"12 Park Street, Kolkata 700016", "PAN?"},
		{"abcde1234f", "Donor's email"},
		{"skip", "Receipt 2023-24/0001 for D-1: ₹1,100.00 from Chitra Narayanan. It was sent to the donor (Chitra) on chat too."},
	}
	var all []string
	for _, s := range steps {
		if strings.HasPrefix(s.text, "+") {
			d, _ := time.ParseDuration(s.text[1:])
			w.clock.Advance(d)
			continue
		}
		got := strings.Join(w.say("tara", s.text), "\n")
		all = append(all, got)
		if !strings.Contains(got, s.want) {
			t.Fatalf("tara> %s\nwant %q in:\n%s", s.text, s.want, got)
		}
	}
	last := all[len(all)-1]
	path := filepath.Join(dir, "receipts", "2023-24", "receipt-2023-24-0001.pdf")
	for _, want := range []string{
		"→ chitra: Thank you for your donation of ₹1,100.00 to Delhi Relief Collective. Your receipt 2023-24/0001 is attached",
		"[file: " + path + "]",
	} {
		if !strings.Contains(last, want) {
			t.Errorf("missing %q in:\n%s", want, last)
		}
	}
	first, err := os.ReadFile(path)
	if err != nil || !bytes.HasPrefix(first, []byte("%PDF-")) {
		t.Fatalf("receipt file: %v", err)
	}
	var stage, receiptNo string
	var requester int64
	w.st.DB().QueryRow(`SELECT stage, json_extract(fields, '$.receipt_no'), requester FROM cards WHERE id = 'D-1'`).Scan(&stage, &receiptNo, &requester)
	if stage != "receipted" || receiptNo != "2023-24/0001" || requester == 0 {
		t.Fatalf("D-1 at %s, receipt %q, requester %d", stage, receiptNo, requester)
	}
	if got := strings.Join(w.say("chitra", "/mystatus"), "\n"); !strings.Contains(got, "D-1: receipt sent") {
		t.Errorf("the donor's /mystatus: %s", got)
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(48 * time.Hour)
	got := strings.Join(w.say("organiser", "/receipt D-1"), "\n")
	for _, want := range []string{"→ chitra: Thank you for your donation", "→ organiser: Receipt 2023-24/0001 for D-1 (₹1,100.00 from Chitra Narayanan), again."} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	again, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(first, again) {
		t.Errorf("the lost receipt was not drawn again the same (%v)", err)
	}
	if n := count(t, w.st, `SELECT count(*) FROM receipts`); n != 1 {
		t.Errorf("%d receipts after re-sending one", n)
	}
}

// benchRuntime is a runtime on a real SQLite file for benchmarks.
func benchRuntime(b *testing.B, opts ...bot.Option) (*store.Store, *bot.Runtime) {
	b.Helper()
	st, set := openStoreAndFlows(b, filepath.Join(b.TempDir(), "sewa.db"))
	b.Cleanup(func() { st.Close() })
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	opts = append([]bot.Option{bot.WithLogger(quiet), bot.WithClock(bot.NewFixedClock(start)), bot.WithCoordinators("console:organiser")}, opts...)
	return st, bot.New(st, set, opts...)
}

// BenchmarkTakeSMS is one new donation card from one bank SMS, committed
// to a real SQLite file (WAL, synchronous=FULL): what POST /sms does.
func BenchmarkTakeSMS(b *testing.B) {
	_, rt := benchRuntime(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		text := fmt.Sprintf("Money Received - INR 1,100.00 in your HDFC Bank A/c xx3344 on 13-03-24 from VPA chitra.n@okaxis (UPI %d)", 500000000000+i)
		res, err := rt.TakeSMS(ctx, text, bot.SMSSource{Via: "bench", Quiet: true})
		if err != nil || res.Status != bot.SMSCreated {
			b.Fatalf("%v %+v", err, res)
		}
	}
}

// BenchmarkMakeReceipt is one receipt by /receipt: its number, the PDF
// drawn and written with fsync, the receipt stored and sent, the card
// closed, in one transaction.
func BenchmarkMakeReceipt(b *testing.B) {
	st, rt := benchRuntime(b, bot.WithOrg(org), bot.WithDataDir(b.TempDir()))
	ctx := context.Background()
	ids := make([]string, b.N)
	err := st.Tx(ctx, func(tx *store.Tx) error {
		for i := range ids {
			c := &store.Card{Flow: "donation", Stage: "ready", Created: start, Updated: start, StageEntered: start,
				Fields: map[string]string{"amount": "1100.00", "date": "2026-05-01", "ref": fmt.Sprint(600000000000 + i),
					"receipt_name": "Chitra Narayanan", "receipt_address": "12 Park Street, Kolkata 700016", "pan": "ABCDE1234F"}}
			if err := tx.NewCard("D", c); err != nil {
				return err
			}
			ids[i] = c.ID
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i, id := range ids {
		m := bot.Message{Channel: console.Name, ExternalID: fmt.Sprint("b", i), User: "organiser", Text: "/receipt " + id}
		if err := rt.Accept(ctx, []bot.Message{m}, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	var n int
	st.DB().QueryRow(`SELECT count(*) FROM receipts`).Scan(&n)
	if n != b.N {
		b.Fatalf("%d receipts for %d cards", n, b.N)
	}
}

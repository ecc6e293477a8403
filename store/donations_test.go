package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"sewa/store"
)

var day = time.Date(2026, 4, 2, 10, 0, 0, 0, time.UTC)

func newDonation(t *testing.T, tx *store.Tx, fields map[string]string) *store.Card {
	t.Helper()
	c := &store.Card{Flow: "donation", Stage: "identify", Fields: fields, Created: day, Updated: day, StageEntered: day}
	if err := tx.NewCard("D", c); err != nil {
		t.Fatal(err)
	}
	return c
}

// Many writers, from two handles on one file, each checking for the key and
// making a card when it has none: one card, and every writer learns its id.
func TestDonationKeyOneCardUnderConcurrency(t *testing.T) {
	eachBackend(t, testDonationKeyOneCardUnderConcurrency)
}

func testDonationKeyOneCardUnderConcurrency(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sewa.db")
	a, b := open(t, path), open(t, path)
	ctx := context.Background()
	const n = 30
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			st := []*store.Store{a, b}[i%2]
			errs[i] = st.Tx(ctx, func(tx *store.Tx) error {
				id, err := tx.DonationCard("ref:407312200456")
				if err != nil || id != "" {
					ids[i] = id
					return err
				}
				c := &store.Card{Flow: "donation", Stage: "identify", Created: day, Updated: day, StageEntered: day}
				if err := tx.NewCard("D", c); err != nil {
					return err
				}
				other, err := tx.AddDonationKey("ref:407312200456", c.ID, day)
				if other != "" {
					return fmt.Errorf("the key was taken by %s under our feet", other)
				}
				ids[i] = c.ID
				return err
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
		if ids[i] != "D-1" {
			t.Errorf("writer %d got %q, want D-1", i, ids[i])
		}
	}
	var cards int
	a.DB().QueryRow(`SELECT count(*) FROM cards`).Scan(&cards)
	if cards != 1 {
		t.Fatalf("%d cards", cards)
	}
}

// The key is unique in the schema itself: a second card claiming it is
// told the first one's id and nothing is written.
func TestAddDonationKeyReturnsTheFirstCard(t *testing.T) {
	eachBackend(t, testAddDonationKeyReturnsTheFirstCard)
}

func testAddDonationKeyReturnsTheFirstCard(t *testing.T) {
	st := open(t, filepath.Join(t.TempDir(), "sewa.db"))
	ctx := context.Background()
	err := st.Tx(ctx, func(tx *store.Tx) error {
		first := newDonation(t, tx, nil)
		second := newDonation(t, tx, nil)
		if other, err := tx.AddDonationKey("txn:2500.00|3344|2024-03-16|", first.ID, day); err != nil || other != "" {
			return fmt.Errorf("first claim: %q, %v", other, err)
		}
		other, err := tx.AddDonationKey("txn:2500.00|3344|2024-03-16|", second.ID, day)
		if err != nil || other != first.ID {
			return fmt.Errorf("second claim: %q, %v; want %s", other, err, first.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.DB().Exec(`INSERT INTO donation_keys (key, card_id, created_at) VALUES ('txn:2500.00|3344|2024-03-16|', 'D-2', 0)`)
	if err == nil {
		t.Fatal("the schema let a key have two cards")
	}
}

// Receipt numbers: many transactions at once, one in five failing after
// taking its number; the numbers kept are 1..n without a gap or repeat,
// and each financial year counts on its own.
func TestReceiptSeqGapFreeUnderConcurrency(t *testing.T) {
	eachBackend(t, testReceiptSeqGapFreeUnderConcurrency)
}

func testReceiptSeqGapFreeUnderConcurrency(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sewa.db")
	a, b := open(t, path), open(t, path)
	ctx := context.Background()
	var cards []string
	a.Tx(ctx, func(tx *store.Tx) error {
		for range 50 {
			cards = append(cards, newDonation(t, tx, nil).ID)
		}
		return nil
	})
	failed := errors.New("the PDF could not be written")
	var wg sync.WaitGroup
	errs := make([]error, len(cards))
	for i, card := range cards {
		wg.Go(func() {
			fy := "2026-27"
			if i%10 == 9 {
				fy = "2027-28"
			}
			errs[i] = []*store.Store{a, b}[i%2].Tx(ctx, func(tx *store.Tx) error {
				seq, err := tx.NextReceiptSeq(fy)
				if err != nil {
					return err
				}
				if i%5 == 2 {
					return failed
				}
				return tx.AddReceipt(store.Receipt{Number: fmt.Sprintf("%s/%04d", fy, seq), FY: fy, Seq: seq, Card: card,
					Issued: day, Path: "/x.pdf", Content: "{}"})
			})
		})
	}
	wg.Wait()
	want := map[string]int{}
	for i, err := range errs {
		switch {
		case i%5 == 2 && !errors.Is(err, failed), i%5 != 2 && err != nil:
			t.Fatalf("transaction %d: %v", i, err)
		case err == nil && i%10 == 9:
			want["2027-28"]++
		case err == nil:
			want["2026-27"]++
		}
	}
	for fy, n := range want {
		rows, err := a.DB().Query(`SELECT seq FROM receipts WHERE fy = ? ORDER BY seq`, fy)
		if err != nil {
			t.Fatal(err)
		}
		var got []int
		for rows.Next() {
			var s int
			rows.Scan(&s)
			got = append(got, s)
		}
		rows.Close()
		wantSeqs := make([]int, n)
		for i := range wantSeqs {
			wantSeqs[i] = i + 1
		}
		if !slices.Equal(got, wantSeqs) {
			t.Errorf("%s: numbers %v, want 1..%d", fy, got, n)
		}
	}
	// The next number follows on.
	a.Tx(ctx, func(tx *store.Tx) error {
		seq, err := tx.NextReceiptSeq("2026-27")
		if err != nil || seq != want["2026-27"]+1 {
			t.Errorf("next number %d, %v; want %d", seq, err, want["2026-27"]+1)
		}
		return errors.New("give it back")
	})
}

func TestReceiptOf(t *testing.T) { eachBackend(t, testReceiptOf) }

func testReceiptOf(t *testing.T) {
	st := open(t, filepath.Join(t.TempDir(), "sewa.db"))
	ctx := context.Background()
	err := st.Tx(ctx, func(tx *store.Tx) error {
		c := newDonation(t, tx, nil)
		if _, err := tx.ReceiptOf(c.ID); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no receipt yet: %v", err)
		}
		r := store.Receipt{Number: "2026-27/0001", FY: "2026-27", Seq: 1, Card: c.ID, Issued: day, Path: "/r.pdf", Content: `{"number":"2026-27/0001"}`}
		if err := tx.AddReceipt(r); err != nil {
			return err
		}
		got, err := tx.ReceiptOf(c.ID)
		if err != nil || *got != r {
			return fmt.Errorf("ReceiptOf = %+v, %v", got, err)
		}
		r.Number, r.Seq = "2026-27/0002", 2
		if err := tx.AddReceipt(r); err == nil {
			return errors.New("a card got two receipts")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDonationsFrom(t *testing.T) { eachBackend(t, testDonationsFrom) }

func testDonationsFrom(t *testing.T) {
	st := open(t, filepath.Join(t.TempDir(), "sewa.db"))
	ctx := context.Background()
	err := st.Tx(ctx, func(tx *store.Tx) error {
		newDonation(t, tx, map[string]string{"counterparty": "chitra.n@okaxis"})
		newDonation(t, tx, map[string]string{"counterparty": "BINDU P"})
		newDonation(t, tx, map[string]string{"counterparty": "Chitra.N@OKAXIS"})
		other := &store.Card{Flow: "request", Stage: "validate", Fields: map[string]string{"counterparty": "chitra.n@okaxis"}, Created: day, Updated: day, StageEntered: day}
		if err := tx.NewCard("R", other); err != nil {
			return err
		}
		newDonation(t, tx, map[string]string{"counterparty": "chitra.n@okaxis"})
		got, err := tx.DonationsFrom("chitra.n@okaxis", "D-4", 5)
		if err != nil {
			return err
		}
		var ids []string
		for _, c := range got {
			ids = append(ids, c.ID)
		}
		if want := []string{"D-3", "D-1"}; !slices.Equal(ids, want) {
			return fmt.Errorf("DonationsFrom = %v, want %v", ids, want)
		}
		if got, _ := tx.DonationsFrom("chitra.n@okaxis", "", 1); len(got) != 1 || got[0].ID != "D-4" {
			return fmt.Errorf("limit 1: %v", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	plan := queryPlan(t, st, `SELECT id FROM cards WHERE flow = 'donation' AND lower(json_extract(fields, '$.counterparty')) = lower('x') AND id <> ''`)
	if plan == "" || !strings.Contains(plan, "cards_donation_payer") {
		t.Errorf("past donations are not found by the index: %q", plan)
	}
}

func TestRecordSMSOnceAndRecent(t *testing.T) { eachBackend(t, testRecordSMSOnceAndRecent) }

func testRecordSMSOnceAndRecent(t *testing.T) {
	st := open(t, filepath.Join(t.TempDir(), "sewa.db"))
	ctx := context.Background()
	err := st.Tx(ctx, func(tx *store.Tx) error {
		c := newDonation(t, tx, nil)
		for i, r := range []store.SMSRecord{
			{Hash: "a", Received: day, Via: "http", Kind: "credit", Card: c.ID, Body: "credited"},
			{Hash: "b", Received: day.Add(time.Minute), Via: "http", Kind: "debit", Reason: "money was sent", Body: "debited"},
			{Hash: "c", Received: day.Add(2 * time.Minute), Via: "console:tara", Kind: "none", Reason: "OTP", Body: "otp"},
		} {
			if fresh, err := tx.RecordSMS(r); err != nil || !fresh {
				return fmt.Errorf("record %d: %v, %v", i, fresh, err)
			}
		}
		if fresh, err := tx.RecordSMS(store.SMSRecord{Hash: "b", Received: day, Via: "import", Kind: "debit", Body: "debited"}); err != nil || fresh {
			return fmt.Errorf("the same text twice: fresh %v, %v", fresh, err)
		}
		recent, err := tx.RecentSMS(5)
		if err != nil {
			return err
		}
		if len(recent) != 2 || recent[0].Hash != "c" || recent[1].Hash != "b" || recent[1].Via != "http" {
			return fmt.Errorf("recent = %+v", recent)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestContactsWithPhone(t *testing.T) { eachBackend(t, testContactsWithPhone) }

func testContactsWithPhone(t *testing.T) {
	st := open(t, filepath.Join(t.TempDir(), "sewa.db"))
	ctx := context.Background()
	err := st.Tx(ctx, func(tx *store.Tx) error {
		for i, c := range []*store.Contact{
			{Channel: "tg", Address: "1", Phone: "9812345678", LastSeen: day},
			{Channel: "wa", Address: "919812345678", Phone: "9812345678", LastSeen: day.Add(time.Hour)},
			{Channel: "tg", Address: "2", Phone: "9812345678", LastSeen: day.Add(2 * time.Hour), Blocked: day},
			{Channel: "tg", Address: "3", Phone: "9000000000", LastSeen: day},
		} {
			c.Created = day
			if err := tx.SaveContact(c); err != nil {
				return fmt.Errorf("contact %d: %w", i, err)
			}
		}
		got, err := tx.ContactsWithPhone("9812345678")
		if err != nil {
			return err
		}
		var keys []string
		for _, c := range got {
			keys = append(keys, c.Key())
		}
		if want := []string{"wa:919812345678", "tg:1"}; !slices.Equal(keys, want) {
			return fmt.Errorf("ContactsWithPhone = %v, want %v (blocked left out, latest first)", keys, want)
		}
		if got, _ := tx.ContactsWithPhone(""); len(got) != 0 {
			return fmt.Errorf("an empty phone matched %d contacts", len(got))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

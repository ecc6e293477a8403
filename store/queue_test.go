package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sewa/store"
)

var t0 = time.Date(2026, 4, 2, 10, 0, 0, 0, time.UTC)

func addContact(t *testing.T, st *store.Store, name string, roles ...string) *store.Contact {
	t.Helper()
	c := &store.Contact{Channel: "console", Address: name, Name: name, Roles: roles, Created: t0, LastSeen: t0}
	tx(t, st, func(tx *store.Tx) error { return tx.SaveContact(c) })
	return c
}

func addCard(t *testing.T, st *store.Store, stage string, entered time.Time, priority int, requester int64) *store.Card {
	t.Helper()
	c := &store.Card{Flow: "request", Stage: stage, Priority: priority, Requester: requester, Created: entered, Updated: entered, StageEntered: entered}
	tx(t, st, func(tx *store.Tx) error { return tx.NewCard("R", c) })
	return c
}

func load(t *testing.T, st *store.Store, id string) *store.Card {
	t.Helper()
	var c *store.Card
	tx(t, st, func(tx *store.Tx) error {
		var err error
		c, err = tx.Card(id)
		return err
	})
	return c
}

// Fifty volunteers, in two "processes" (two handles on one SQLite file),
// all see the same free card and then all claim it: exactly one holds it.
// Each reads in one transaction and claims in another, so only the
// conditional UPDATE stands between them.
func TestClaimHasOneWinnerUnderConcurrency(t *testing.T) {
	eachBackend(t, testClaimHasOneWinnerUnderConcurrency)
}

func testClaimHasOneWinnerUnderConcurrency(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sewa.db")
	a, b := open(t, path), open(t, path)
	card := addCard(t, a, "validate", t0, 0, 0)
	const n = 50
	vols := make([]*store.Contact, n)
	for i := range vols {
		vols[i] = addContact(t, a, fmt.Sprint("v", i), "caller")
	}
	stages := []store.StageRef{{Flow: "request", Stage: "validate"}}
	ctx := context.Background()
	var seen sync.WaitGroup
	seen.Add(n)
	var wins atomic.Int32
	var winner atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i, v := range vols {
		st := a
		if i%2 == 1 {
			st = b
		}
		wg.Go(func() {
			var got *store.Card
			err := st.Tx(ctx, func(tx *store.Tx) error {
				var err error
				got, err = tx.NextFree(stages, v.ID, t0)
				return err
			})
			seen.Done()
			if err != nil {
				errs <- err
				return
			}
			seen.Wait() // everyone has seen the card free before anyone claims
			err = st.Tx(ctx, func(tx *store.Tx) error {
				ok, err := tx.ClaimCard(got.ID, got.Stage, v.ID, t0, t0.Add(30*time.Minute))
				if ok {
					wins.Add(1)
					winner.Store(v.ID)
				}
				return err
			})
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if wins.Load() != 1 {
		t.Fatalf("%d volunteers claimed %s, want exactly 1", wins.Load(), card.ID)
	}
	if got := load(t, a, card.ID); got.Assignee != winner.Load() {
		t.Fatalf("%s is held by %d, the winner was %d", card.ID, got.Assignee, winner.Load())
	}
}

// The same, the way /next does it: read and claim in one transaction, many
// goroutines, several cards. Every card ends with one holder, and nobody
// holds two.
func TestNextAndClaimInOneTxNeverDoubles(t *testing.T) {
	eachBackend(t, testNextAndClaimInOneTxNeverDoubles)
}

func testNextAndClaimInOneTxNeverDoubles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sewa.db")
	st := open(t, path)
	const cards, n = 10, 50
	for i := range cards {
		addCard(t, st, "validate", t0.Add(time.Duration(i)*time.Minute), 0, 0)
	}
	vols := make([]*store.Contact, n)
	for i := range vols {
		vols[i] = addContact(t, st, fmt.Sprint("v", i), "caller")
	}
	stages := []store.StageRef{{Flow: "request", Stage: "validate"}}
	got := make([]string, n)
	var wg sync.WaitGroup
	for i, v := range vols {
		wg.Go(func() {
			err := st.Tx(context.Background(), func(tx *store.Tx) error {
				c, err := tx.NextFree(stages, v.ID, t0)
				if errors.Is(err, store.ErrNotFound) {
					return nil
				}
				if err != nil {
					return err
				}
				ok, err := tx.ClaimCard(c.ID, c.Stage, v.ID, t0, t0.Add(time.Hour))
				if ok {
					got[i] = c.ID
				}
				return err
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	var held []string
	for _, id := range got {
		if id != "" {
			held = append(held, id)
		}
	}
	slices.Sort(held)
	if len(held) != cards || len(slices.Compact(slices.Clone(held))) != cards {
		t.Fatalf("claimed %v, want each of the %d cards exactly once", held, cards)
	}
}

func TestQueueOrderLeasesAndRelease(t *testing.T) { eachBackend(t, testQueueOrderLeasesAndRelease) }

func testQueueOrderLeasesAndRelease(t *testing.T) {
	st := open(t, filepath.Join(t.TempDir(), "sewa.db"))
	asha := addContact(t, st, "asha", "caller")
	ravi := addContact(t, st, "ravi", "caller")
	old := addCard(t, st, "validate", t0, 0, 0)
	urgent := addCard(t, st, "validate", t0.Add(time.Hour), 1, 0)
	own := addCard(t, st, "validate", t0.Add(-time.Hour), 5, ravi.ID) // ravi's own request
	other := addCard(t, st, "dispatch", t0.Add(-time.Hour), 0, 0)
	stages := []store.StageRef{{Flow: "request", Stage: "validate"}}
	now := t0.Add(2 * time.Hour)
	lease := now.Add(30 * time.Minute)

	next := func(who *store.Contact, at time.Time) string {
		t.Helper()
		var id string
		tx(t, st, func(tx *store.Tx) error {
			c, err := tx.NextFree(stages, who.ID, at)
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			if err == nil {
				id = c.ID
			}
			return err
		})
		return id
	}
	claim := func(id, stage string, who *store.Contact, at, until time.Time) bool {
		t.Helper()
		var ok bool
		tx(t, st, func(tx *store.Tx) error {
			var err error
			ok, err = tx.ClaimCard(id, stage, who.ID, at, until)
			return err
		})
		return ok
	}

	// Priority first, then age; nobody gets their own request; other
	// stages are other queues.
	if got := next(ravi, now); got != urgent.ID {
		t.Fatalf("ravi's next = %s, want %s (priority beats age; his own %s is not his to work)", got, urgent.ID, own.ID)
	}
	if got := next(asha, now); got != own.ID {
		t.Fatalf("asha's next = %s, want %s", got, own.ID)
	}
	if !claim(urgent.ID, "validate", ravi, now, lease) {
		t.Fatal("ravi could not claim a free card")
	}
	if claim(urgent.ID, "validate", asha, now, lease) {
		t.Fatal("asha claimed a card ravi holds")
	}
	if claim(other.ID, "validate", asha, now, lease) {
		t.Fatal("a claim for the wrong stage succeeded")
	}
	if !claim(urgent.ID, "validate", ravi, now.Add(time.Minute), lease.Add(time.Minute)) {
		t.Fatal("ravi could not renew his own lease")
	}
	if got := next(ravi, now); got != old.ID {
		t.Fatalf("after claiming, ravi's next = %s, want %s", got, old.ID)
	}

	// The lease runs out: the card is free again, and listed as expired.
	after := lease.Add(2 * time.Minute)
	tx(t, st, func(tx *store.Tx) error {
		exp, err := tx.ExpiredLeases(now, 10)
		if err != nil || len(exp) != 0 {
			return fmt.Errorf("expired before the lease ended: %v %v", exp, err)
		}
		exp, err = tx.ExpiredLeases(after, 10)
		if err != nil || len(exp) != 1 || exp[0].ID != urgent.ID {
			return fmt.Errorf("expired after the lease = %v %v, want %s", exp, err, urgent.ID)
		}
		if ok, err := tx.ExpireLease(urgent.ID, asha.ID, after); ok || err != nil {
			return fmt.Errorf("expired someone else's lease: %v %v", ok, err)
		}
		if ok, err := tx.ExpireLease(urgent.ID, ravi.ID, after); !ok || err != nil {
			return fmt.Errorf("expire: %v %v", ok, err)
		}
		return nil
	})
	if c := load(t, st, urgent.ID); c.Assignee != 0 || !c.LeaseUntil.IsZero() {
		t.Fatalf("after expiry %s is held by %d until %v", c.ID, c.Assignee, c.LeaseUntil)
	}

	// Release: only by the holder.
	if !claim(old.ID, "validate", asha, after, after.Add(time.Hour)) {
		t.Fatal("asha could not claim")
	}
	tx(t, st, func(tx *store.Tx) error {
		if ok, err := tx.ReleaseCard(old.ID, ravi.ID, after); ok || err != nil {
			return fmt.Errorf("ravi released asha's card: %v %v", ok, err)
		}
		held, err := tx.HeldCards(asha.ID)
		if err != nil || len(held) != 1 || held[0].ID != old.ID {
			return fmt.Errorf("asha holds %v %v, want %s", held, err, old.ID)
		}
		if ok, err := tx.ReleaseCard(old.ID, asha.ID, after); !ok || err != nil {
			return fmt.Errorf("release: %v %v", ok, err)
		}
		return nil
	})
}

func TestOffersOnePerCardAndRounds(t *testing.T) { eachBackend(t, testOffersOnePerCardAndRounds) }

func testOffersOnePerCardAndRounds(t *testing.T) {
	st := open(t, filepath.Join(t.TempDir(), "sewa.db"))
	asha := addContact(t, st, "asha", "caller")
	ravi := addContact(t, st, "ravi", "caller")
	card := addCard(t, st, "validate", t0, 0, 0)
	tx(t, st, func(tx *store.Tx) error {
		o := &store.Offer{Card: card.ID, Stage: "validate", StageEntered: t0, To: asha.ID, At: t0, Until: t0.Add(15 * time.Minute)}
		if ok, err := tx.AddOffer(o); !ok || err != nil {
			return fmt.Errorf("first offer: %v %v", ok, err)
		}
		second := &store.Offer{Card: card.ID, Stage: "validate", StageEntered: t0, To: ravi.ID, At: t0, Until: t0.Add(15 * time.Minute)}
		if ok, err := tx.AddOffer(second); ok || err != nil {
			return fmt.Errorf("a second open offer on one card: %v %v", ok, err)
		}
		if due, err := tx.DueOffers(t0.Add(14*time.Minute), 10); len(due) != 0 || err != nil {
			return fmt.Errorf("due early: %v %v", due, err)
		}
		due, err := tx.DueOffers(t0.Add(15*time.Minute), 10)
		if err != nil || len(due) != 1 || due[0].To != asha.ID {
			return fmt.Errorf("due = %v %v", due, err)
		}
		if ok, err := tx.CloseOffer(o.ID, store.OfferExpired, t0.Add(15*time.Minute)); !ok || err != nil {
			return fmt.Errorf("close: %v %v", ok, err)
		}
		if ok, err := tx.CloseOffer(o.ID, store.OfferAccepted, t0.Add(16*time.Minute)); ok || err != nil {
			return fmt.Errorf("closed twice: %v %v", ok, err)
		}
		if ok, err := tx.AddOffer(second); !ok || err != nil {
			return fmt.Errorf("next offer: %v %v", ok, err)
		}
		round, err := tx.OfferedInRound(card.ID, t0)
		if err != nil || !slices.Equal(round, []int64{asha.ID, ravi.ID}) && !slices.Equal(round, []int64{ravi.ID, asha.ID}) {
			return fmt.Errorf("round = %v %v", round, err)
		}
		if round, err := tx.OfferedInRound(card.ID, t0.Add(time.Hour)); len(round) != 0 || err != nil {
			return fmt.Errorf("a new round remembers offers: %v %v", round, err)
		}
		ws, err := tx.Workers([]string{"caller"})
		if err != nil || len(ws) != 2 || ws[1].Offered != 1 || ws[1].LastOffer.IsZero() {
			return fmt.Errorf("workers = %+v %v", ws, err)
		}
		gone, err := tx.WithdrawOffers(card.ID, t0.Add(time.Hour))
		if err != nil || len(gone) != 1 || gone[0].To != ravi.ID {
			return fmt.Errorf("withdrawn = %v %v", gone, err)
		}
		if open, err := tx.OpenOffersTo(ravi.ID); len(open) != 0 || err != nil {
			return fmt.Errorf("still open: %v %v", open, err)
		}
		// Withdrawn (someone else took it) is not a chance had.
		if round, err := tx.OfferedInRound(card.ID, t0); err != nil || !slices.Equal(round, []int64{asha.ID}) {
			return fmt.Errorf("round after withdrawing ravi's = %v %v, want only asha", round, err)
		}
		return nil
	})
}

func TestWorkersPauseAndFind(t *testing.T) { eachBackend(t, testWorkersPauseAndFind) }

func testWorkersPauseAndFind(t *testing.T) {
	st := open(t, filepath.Join(t.TempDir(), "sewa.db"))
	asha := addContact(t, st, "asha", "caller", "logistics")
	addContact(t, st, "Asha Devi", "caller")
	addContact(t, st, "ravi", "outreach")
	addContact(t, st, "guest")
	addContact(t, st, "50%_off")
	addContact(t, st, "Meena Kumari")
	addContact(t, st, "Sunil Rao", "logistics")
	addContact(t, st, "Sunil Das", "caller")
	card := addCard(t, st, "validate", t0, 0, 0)
	tx(t, st, func(tx *store.Tx) error {
		if _, err := tx.ClaimCard(card.ID, "validate", asha.ID, t0, t0.Add(time.Hour)); err != nil {
			return err
		}
		if err := tx.SetPaused(asha.ID, t0, "away for a week"); err != nil {
			return err
		}
		ws, err := tx.Workers([]string{"caller", "logistics"})
		if err != nil || len(ws) != 4 { // asha, Asha Devi and the two Sunils
			return fmt.Errorf("workers = %+v %v", ws, err)
		}
		if ws[0].Held != 1 || !ws[0].Paused.Equal(t0) || ws[0].PauseNote != "away for a week" || ws[0].Load() != 1 {
			return fmt.Errorf("asha = %+v", ws[0])
		}
		if err := tx.SetPaused(asha.ID, time.Time{}, ""); err != nil {
			return err
		}
		if at, _, err := tx.PausedSince(asha.ID); !at.IsZero() || err != nil {
			return fmt.Errorf("still paused at %v %v", at, err)
		}
		return nil
	})
	tests := []struct {
		q         string
		withRoles bool
		want      []string
	}{
		{"asha", false, []string{"asha"}},                   // an exact name wins over a first name
		{"ASHA DEVI ", false, []string{"Asha Devi"}},        // case and spaces around do not matter
		{"meena", false, []string{"Meena Kumari"}},          // a first name
		{"sunil", true, []string{"Sunil Rao", "Sunil Das"}}, // ambiguous: both, for the caller to ask
		{"devi", false, nil},                                // only first names, not any word
		{"ash", false, nil},                                 // no prefixes
		{"guest", true, nil},                                // no roles
		{"guest", false, []string{"guest"}},
		{"50%", false, nil}, // LIKE wildcards are literal
		{"_sha", false, nil},
		{"50%_OFF", false, []string{"50%_off"}},
		{"outreach", false, nil},     // roles are not names
		{"console:asha", false, nil}, // keys are not names
		{"", false, nil},
	}
	for _, tc := range tests {
		tx(t, st, func(tx *store.Tx) error {
			got, err := tx.FindContacts(tc.q, tc.withRoles, 10)
			var names []string
			for _, c := range got {
				names = append(names, c.Name)
			}
			if err != nil || !slices.Equal(names, tc.want) {
				t.Errorf("FindContacts(%q, %v) = %q, %v; want %q", tc.q, tc.withRoles, names, err, tc.want)
			}
			return nil
		})
	}
}

// BenchmarkNextFreeAndClaim is /next's store work on a big board: 100 000
// cards waiting in one stage, the oldest 1 000 of them held (they are
// skipped), one transaction that finds the first free card and claims it,
// then gives it back so every iteration sees the same queue.
func BenchmarkNextFreeAndClaim(b *testing.B) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(b.TempDir(), "sewa.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	const waiting, held = 100_000, 1_000
	vol := &store.Contact{Channel: "console", Address: "v", Name: "v", Roles: []string{"caller"}, Created: t0, LastSeen: t0}
	err = st.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.SaveContact(vol); err != nil {
			return err
		}
		for i := range waiting {
			at := t0.Add(time.Duration(i) * time.Second)
			c := &store.Card{Flow: "request", Stage: "validate", Created: at, Updated: at, StageEntered: at}
			if i < held {
				c.Assignee, c.LeaseUntil = vol.ID, t0.Add(1000*time.Hour)
			}
			if err := tx.NewCard("R", c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	stages := []store.StageRef{{Flow: "request", Stage: "validate"}}
	b.ResetTimer()
	for b.Loop() {
		err := st.Tx(ctx, func(tx *store.Tx) error {
			c, err := tx.NextFree(stages, 0, t0)
			if err != nil {
				return err
			}
			if ok, err := tx.ClaimCard(c.ID, c.Stage, vol.ID, t0, t0.Add(30*time.Minute)); !ok || err != nil {
				return fmt.Errorf("claim %s: %v %v", c.ID, ok, err)
			}
			_, err = tx.ReleaseCard(c.ID, vol.ID, t0)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

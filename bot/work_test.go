package bot_test

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"sewa/bot"
	"sewa/bot/console"
	"sewa/store"
)

// tick runs every job once at the clock's now, as the scheduler would, and
// returns what the jobs sent, line by line.

// seedCallers makes n approved callers, named v0, v1, … on the console,
// and one request R-1 from asha waiting in validate. It goes through the
// store, not the chat, so that many callers cost little.
func seedCallers(t *testing.T, w *world, n int) {
	t.Helper()
	w.say("organiser", "/help") // the organiser is the first, so a coordinator
	ctx := context.Background()
	err := w.st.Tx(ctx, func(tx *store.Tx) error {
		for i := range n {
			c := &store.Contact{Channel: "console", Address: fmt.Sprint("v", i), Name: fmt.Sprint("v", i),
				Roles: []string{bot.RoleCaller}, Created: start, LastSeen: start}
			if err := tx.SaveContact(c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	request(w, "asha", "Asha Devi", "9812345678")
}

// request makes a ration-kit request from who and returns what the bot
// said after the last answer.
func request(w *world, who, name, phone string) []string {
	w.t.Helper()
	var got []string
	for _, line := range []string{"/request", name, phone, "B-12 Sanjay Colony", "2", "9", "skip", "skip"} {
		got = w.say(who, line)
	}
	return got
}

// Fifty callers send /next at the same moment, each in their own goroutine
// and transaction on one SQLite file: exactly one gets R-1, the others are
// told nothing is waiting.
func TestConcurrentNextHasOneWinner(t *testing.T) {
	w := newWorld(t)
	const n = 50
	seedCallers(t, w, n)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			m := bot.Message{Channel: "console", ExternalID: fmt.Sprint("next-", i), User: fmt.Sprint("v", i), Text: "/next", At: start}
			if err := w.rt.Accept(ctx, []bot.Message{m}, nil); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	var holders int
	var assignee int64
	err := w.st.Tx(ctx, func(tx *store.Tx) error {
		card, err := tx.Card("R-1")
		if err != nil {
			return err
		}
		assignee = card.Assignee
		for i := range n {
			c, err := tx.Contact("console", fmt.Sprint("v", i))
			if err != nil {
				return err
			}
			held, err := tx.HeldCards(c.ID)
			if err != nil {
				return err
			}
			holders += len(held)
			if len(held) == 1 && c.ID != assignee {
				return fmt.Errorf("%s holds R-1 but the card says %d", c.Key(), assignee)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if holders != 1 || assignee == 0 {
		t.Fatalf("%d callers hold R-1 (assignee %d), want exactly 1", holders, assignee)
	}
	if err := w.rt.Flush(ctx, "console"); err != nil {
		t.Fatal(err)
	}
	out := w.out.String()
	if got := strings.Count(out, "R-1 · Ration kit request · Validate by phone"); got != 1 {
		t.Errorf("%d callers were shown R-1, want 1:\n%s", got, out)
	}
	if got := strings.Count(out, "Nothing is waiting for you right now"); got != n-1 {
		t.Errorf("%d callers were told nothing waits, want %d", got, n-1)
	}
}

// A volunteer without the stage's role never sees the requester's phone
// number or address, whatever they send; the holder does.
func TestNoRoleSeesNoPII(t *testing.T) {
	w := newWorld(t)
	seedCallers(t, w, 1)
	err := w.st.Tx(context.Background(), func(tx *store.Tx) error {
		c := &store.Contact{Channel: "console", Address: "sunil", Name: "Sunil", Roles: []string{bot.RoleLogistics}, Created: start, LastSeen: start}
		return tx.SaveContact(c)
	})
	if err != nil {
		t.Fatal(err)
	}
	pii := regexp.MustCompile(`9812345678|Sanjay|Asha Devi`)
	for _, text := range []string{"/card R-1", "/take R-1", "/accept R-1", "/accept", "/next", "/tasks", "/release R-1", "/pass R-1"} {
		for _, line := range w.say("sunil", text) {
			if pii.MatchString(line) {
				t.Errorf("sunil> %s: a logistics volunteer was shown %q", text, line)
			}
		}
	}
	got := strings.Join(w.say("v0", "/next"), "\n")
	if !strings.Contains(got, "phone: 9812345678") || !strings.Contains(got, "address: B-12 Sanjay Colony") {
		t.Errorf("the holder was not shown the phone and address:\n%s", got)
	}
}

// A caller still answering a card's questions keeps it past the lease: it
// runs on from their last answer. Once they stop, it runs out.
func TestLeaseRunsOnWhileAnswering(t *testing.T) {
	w := newWorld(t)
	seedCallers(t, w, 1)
	w.say("v0", "/next") // lease until 10:30
	w.clock.Advance(20 * time.Minute)
	w.say("v0", "1") // approve; asked how many kits at 10:20
	w.clock.Advance(15 * time.Minute)
	if got := w.tick(); len(got) != 0 {
		t.Fatalf("at 10:35 the jobs said %q; v0 answered at 10:20 and keeps R-1", got)
	}
	holder := func() int64 {
		var id int64
		err := w.st.Tx(context.Background(), func(tx *store.Tx) error {
			c, err := tx.Card("R-1")
			if err == nil {
				id = c.Assignee
				if until := c.LeaseUntil; !until.Equal(start.Add(50 * time.Minute)) {
					return fmt.Errorf("lease until %v, want 10:50 (last answer + 30m)", until)
				}
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	if holder() == 0 {
		t.Fatal("R-1 was taken from a caller who is answering")
	}
	w.clock.Advance(16 * time.Minute) // 10:51
	got := strings.Join(w.tick(), "\n")
	if !strings.Contains(got, "Your time for R-1") {
		t.Fatalf("at 10:51 the jobs said %q, want the lease to run out", got)
	}
	if got := w.say("v0", "2"); !strings.Contains(strings.Join(got, "\n"), "Namaste") {
		t.Errorf("a late answer after the lease ran out got %q, want the menu (nothing moves)", got)
	}
}

// WithCapacity and WithOfferWindow change push assignment: a caller with
// as many open tasks as the capacity is passed over, and offers run out
// after the window.
func TestCapacityAndOfferWindowOptions(t *testing.T) {
	w := newWorld(t, bot.WithCapacity(1), bot.WithOfferWindow(5*time.Minute))
	seedCallers(t, w, 2) // R-1, offered to v0
	got := strings.Join(request(w, "gita", "Gita", "9812345600"), "\n")
	if !strings.Contains(got, "→ v1: New task for you: R-2") || !strings.Contains(got, "open until 2 Apr 10:05") {
		t.Fatalf("R-2 was not offered to v1 (v0 is at capacity) for 5 minutes:\n%s", got)
	}
	got = strings.Join(request(w, "hari", "Hari", "9812345601"), "\n")
	if strings.Contains(got, "New task") {
		t.Fatalf("R-3 was offered although both callers are at capacity:\n%s", got)
	}
	w.clock.Advance(5 * time.Minute)
	got = strings.Join(w.tick(), "\n")
	// Both offers ran out; each goes to the other caller, and R-3 still waits.
	for _, want := range []string{"→ v0: No answer about R-1", "→ v1: No answer about R-2", "→ v1: New task for you: R-1", "→ v0: New task for you: R-2"} {
		if !strings.Contains(got, want) {
			t.Errorf("after 5 minutes the jobs did not say %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "R-3") {
		t.Errorf("R-3 was offered to a caller at capacity:\n%s", got)
	}
	w.say("v0", "/accept R-2")
	if got := strings.Join(w.say("v0", "/take R-3"), "\n"); !strings.Contains(got, "You already hold 1 task(s): R-2.") {
		t.Errorf("v0 took a second card beyond the capacity of 1: %s", got)
	}
}

// On a channel with buttons an offer is answered by pressing; the press
// needs no session, and a second press on the same offer changes nothing.
func TestOfferAnsweredByButton(t *testing.T) {
	w := newWorld(t)
	seedCallers(t, w, 1) // R-1 is offered to v0 when it enters validate
	ctx := context.Background()
	press := func(id, data string) string {
		m := bot.Message{Channel: console.Name, ExternalID: id, User: "v0", Name: "v0", Choice: data}
		if err := w.rt.Accept(ctx, []bot.Message{m}, nil); err != nil {
			t.Fatal(err)
		}
		if err := w.rt.Flush(ctx, console.Name); err != nil {
			t.Fatal(err)
		}
		out := w.out.String()
		w.out.Reset()
		return out
	}
	w.out.Reset()
	if out := press("p1", "offer:accept:R-1"); !strings.Contains(out, "R-1") || !strings.Contains(out, "What came of the call?") {
		t.Fatalf("accepting by button did not start the work on R-1:\n%s", out)
	}
	var assignee sql.NullInt64
	w.st.DB().QueryRow(`SELECT assignee FROM cards WHERE id = 'R-1'`).Scan(&assignee)
	if !assignee.Valid {
		t.Fatal("R-1 is not held after the press")
	}
	if out := press("p2", "offer:pass:R-1"); strings.Contains(out, "passed") && !strings.Contains(out, "no offer") {
		t.Logf("second press: %s", out)
	}
	w.st.DB().QueryRow(`SELECT assignee FROM cards WHERE id = 'R-1'`).Scan(&assignee)
	if !assignee.Valid {
		t.Fatal("a press on an answered offer released the card")
	}
}

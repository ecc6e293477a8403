package bot_test

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/disintegration/imaging"

	"sewa/bot"
	"sewa/store"
)

// The intake is at most eight bot messages when every answer is right the
// first time, from /request to the message with the card id; seven when the
// phone number is already known (WhatsApp gives it).
func TestIntakeAtMostEightMessages(t *testing.T) {
	for _, c := range []struct {
		name       string
		knownPhone bool
		want       int
	}{
		{"phone asked", false, 8},
		{"phone known", true, 7},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			w.say("organiser", "/status")
			if c.knownPhone {
				w.seed(func(tx *store.Tx) error {
					return tx.SaveContact(&store.Contact{Channel: "console", Address: "asha", Name: "asha", Phone: "9812345678", Lang: "en", Created: start, LastSeen: start})
				})
			}
			answers := []string{"/request", "Asha Devi", "9812345678", "B-12 Sanjay Colony", "1", "5", "skip", "skip"}
			if c.knownPhone {
				answers = slices.Delete(answers, 2, 3)
			}
			got, done := 0, false
			for _, a := range answers {
				for _, line := range w.say("asha", a) {
					if strings.HasPrefix(line, "→ asha: ") {
						got++
						done = done || strings.Contains(line, "Your request is R-1")
					}
				}
			}
			if !done {
				t.Fatal("no card id at the end of the intake")
			}
			if got != c.want || got > 8 {
				t.Errorf("%d bot messages to the requester, want %d (at most 8)", got, c.want)
			}
		})
	}
}

// addPerson saves a console contact.
func addPerson(t *testing.T, w *world, name, phone string, roles ...string) *store.Contact {
	t.Helper()
	c := &store.Contact{Channel: "console", Address: strings.ToLower(name), Name: name, Phone: phone, Lang: "en", Roles: roles, Created: start, LastSeen: start}
	w.seed(func(tx *store.Tx) error { return tx.SaveContact(c) })
	return c
}

// waitingRequests puts n approved requests for kits each in the allocate
// queue, one minute apart, oldest first.
func waitingRequests(t *testing.T, w *world, n, kits int) []string {
	t.Helper()
	var ids []string
	w.seed(func(tx *store.Tx) error {
		for i := range n {
			at := start.Add(time.Duration(i) * time.Minute)
			c := &store.Card{Flow: "request", Stage: "allocate", Created: at, Updated: at, StageEntered: at,
				Fields: map[string]string{"name": fmt.Sprintf("Family %d", i+1), "phone": fmt.Sprintf("98%08d", i+1), "address": "Okhla",
					"families": "1", "people": "4", "outcome": "approve", "kits": fmt.Sprint(kits)}}
			if err := tx.NewCard("R", c); err != nil {
				return err
			}
			ids = append(ids, c.ID)
		}
		return nil
	})
	return ids
}

// Many goroutines add stock and run the jobs at once against one waiting
// queue on a real SQLite file: every kit is reserved at most once, no card
// twice, and the cards served are exactly the oldest.
func TestConcurrentAllocationNeverOverReserves(t *testing.T) {
	const cards, kitsEach, adders, perAdd, tickers = 30, 2, 20, 2, 8
	var coordinators []string
	for i := range adders {
		coordinators = append(coordinators, fmt.Sprintf("console:c%d", i))
	}
	w := newWorld(t, bot.WithCoordinators(coordinators...))
	ids := waitingRequests(t, w, cards, kitsEach)
	w.seed(func(tx *store.Tx) error {
		return tx.AddStock(store.StockEntry{At: start, Item: bot.KitItem, Location: "Okhla", Kind: store.StockReceived, Qty: 1, Actor: "test"})
	})
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, adders+tickers)
	for i := range adders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := bot.Message{Channel: "console", ExternalID: fmt.Sprintf("add-%d", i), User: fmt.Sprintf("c%d", i), Name: "Coordinator",
				Text: fmt.Sprintf("/stock add %d kit at Okhla", perAdd), At: start}
			errs <- w.rt.Accept(ctx, []bot.Message{m}, nil)
		}()
	}
	for range tickers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- w.rt.Tick(ctx)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var failed int
	w.st.DB().QueryRow(`SELECT count(*) FROM inbound WHERE failed IS NOT NULL`).Scan(&failed)
	if failed > 0 {
		t.Fatalf("%d /stock add messages failed", failed)
	}
	onHand := 1 + adders*perAdd // 41: one kit is always left over
	served := (onHand) / kitsEach
	w.seed(func(tx *store.Tx) error {
		levels, err := tx.StockLevels()
		if err != nil {
			return err
		}
		if len(levels) != 1 || levels[0].OnHand != onHand || levels[0].Reserved != served*kitsEach {
			t.Errorf("levels %+v; want %d on hand, %d reserved", levels, onHand, served*kitsEach)
		}
		holds, err := tx.StockHolds()
		if err != nil {
			return err
		}
		var held []string
		for _, h := range holds {
			if h.Qty != kitsEach {
				t.Errorf("%s holds %d kits, want %d", h.Card, h.Qty, kitsEach)
			}
			held = append(held, h.Card)
		}
		slices.SortFunc(held, func(a, b string) int { return slices.Index(ids, a) - slices.Index(ids, b) })
		if !slices.Equal(held, ids[:served]) {
			t.Errorf("cards served %v, want the %d oldest %v", held, served, ids[:served])
		}
		for i, id := range ids {
			c, err := tx.Card(id)
			if err != nil {
				return err
			}
			want := "allocate"
			if i < served {
				want = "dispatch"
			}
			if c.Stage != want {
				t.Errorf("%s is in %s, want %s", id, c.Stage, want)
			}
		}
		return nil
	})
}

// The requester hears who brings the kits: the first name, and the phone
// number only when the group allows it.
func TestCourierPhoneOnlyWhenAllowed(t *testing.T) {
	for _, c := range []struct {
		share bool
		want  string
	}{
		{false, "→ asha: Your kit for R-1 is on its way with Ravi."},
		{true, "→ asha: Your kit for R-1 is on its way with Ravi (9811122233)."},
	} {
		t.Run(fmt.Sprint("share=", c.share), func(t *testing.T) {
			w := newWorld(t, bot.WithShareVolunteerPhone(c.share))
			w.say("organiser", "/stock add 5 kit at Okhla")
			addPerson(t, w, "Ravi Kumar", "9811122233", bot.RoleLogistics)
			asha := addPerson(t, w, "asha", "9812345678")
			w.seed(func(tx *store.Tx) error {
				card := &store.Card{Flow: "request", Stage: "validate", Requester: asha.ID, Created: start, Updated: start, StageEntered: start,
					Fields: map[string]string{"name": "Asha Devi", "phone": "9812345678", "address": "B-12 Sanjay Colony, Okhla", "families": "1", "people": "5"}}
				return tx.NewCard("R", card)
			})
			w.say("organiser", "/take R-1")
			w.say("organiser", "1")
			w.say("organiser", "2")
			w.say("ravi kumar", "/dispatch okhla")
			got := w.say("ravi kumar", "/picked")
			if len(got) == 0 || got[0] != c.want {
				t.Errorf("/picked said:\n%s\nwant first %q", strings.Join(got, "\n"), c.want)
			}
		})
	}
}

// writePNG writes a deterministic detailed image.
func writePNG(t *testing.T, path string, w, h int) {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, color.NRGBA{R: uint8(x * 7), G: uint8(y * 13), B: uint8((x * y) % 251), A: 255})
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := imaging.Save(img, path); err != nil {
		t.Fatal(err)
	}
}

// outreachWorld has a delivered request R-1 of Asha Devi's, the outreach
// card O-1 made from it with one photo kept under the data directory, an
// outreach volunteer (Uma), and people who did and did not ask for updates.
func outreachWorld(t *testing.T) (w *world, original string) {
	t.Helper()
	w = newWorld(t)
	w.say("organiser", "/status")
	original = filepath.Join(filepath.Dir(w.path), "photos", "delivery.png")
	writePNG(t, original, 240, 180)
	addPerson(t, w, "Uma", "9811100009", bot.RoleOutreach)
	asha := addPerson(t, w, "asha", "9812345678")
	donor := addPerson(t, w, "dev", "9811100010")  // gave, wants updates
	quiet := addPerson(t, w, "neel", "9811100011") // gave, wants none
	changed := addPerson(t, w, "ira", "9811100012")
	w.seed(func(tx *store.Tx) error {
		r := &store.Card{Flow: "request", Stage: "delivered", Requester: asha.ID, Created: start, Updated: start, StageEntered: start,
			Fields: map[string]string{"name": "Asha Devi", "phone": "9812345678", "address": "B-12 Sanjay Colony, near Okhla metro",
				"families": "2", "people": "9", "kits": "2", "kits_given": "2", "proof": original}}
		if err := tx.NewCard("R", r); err != nil {
			return err
		}
		for _, d := range []struct {
			who   *store.Contact
			wants string
		}{{donor, "yes"}, {quiet, "no"}, {changed, "yes"}} {
			c := &store.Card{Flow: "donation", Stage: "receipted", Requester: d.who.ID, Created: start, Updated: start, StageEntered: start,
				Fields: map[string]string{"amount": "1100.00", "wants_updates": d.wants}}
			if err := tx.NewCard("D", c); err != nil {
				return err
			}
		}
		return nil
	})
	w.say("ira", "/updates off")
	// The delivery makes the outreach card, as the deliver stage's route does.
	w.seed(func(tx *store.Tx) error {
		o := &store.Card{Flow: "outreach", Stage: "draft", Created: start, Updated: start, StageEntered: start,
			Fields: map[string]string{"from": "R-1", "kits": "2", "families": "2", "people": "9", "area": "Okhla", "photos": original,
				"caption_en": "Our volunteers delivered 2 ration kits to 2 families (9 people) in Okhla.",
				"caption_hi": "हमारे स्वयंसेवकों ने Okhla में 2 परिवारों (9 लोगों) तक राशन पहुँचाया — 2 राशन किटें।"}}
		return tx.NewCard("O", o)
	})
	return w, original
}

type sent struct {
	to string
	bot.Outgoing
}

func outboxOf(t *testing.T, w *world) []sent {
	t.Helper()
	rows, err := w.st.DB().Query(`SELECT address, body FROM outbox ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []sent
	for rows.Next() {
		var s sent
		var body string
		if err := rows.Scan(&s.to, &body); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(body), &s.Outgoing); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// The original photo never leaves the data directory: the outreach
// volunteer gets a grid view and blurred previews, donors who asked for
// updates get the kept blurred copy, nobody gets the original, and the kept
// copy differs from the original in exactly the chosen square.
func TestOutreachSendsOnlyBlurredCopies(t *testing.T) {
	w, original := outreachWorld(t)
	for _, line := range []string{"/take O-1", "ok", "/blur", "/blur 2", "/blur ok", "https://example.org/p/1"} {
		if got := w.say("uma", line); len(got) == 0 {
			t.Fatalf("uma> %s: no answer", line)
		}
	}
	var kept string
	w.seed(func(tx *store.Tx) error {
		o, err := tx.Card("O-1")
		if err != nil {
			return err
		}
		if o.Stage != "posted" {
			t.Errorf("O-1 is at %s", o.Stage)
		}
		kept = o.Fields["post_photo_1"]
		return nil
	})
	if kept == "" || kept == original || !strings.HasPrefix(kept, filepath.Join(filepath.Dir(w.path), "outreach", "O-1")) {
		t.Fatalf("kept copy %q", kept)
	}
	got := map[string][]string{} // recipient → images
	for _, s := range outboxOf(t, w) {
		if s.Image == "" {
			continue
		}
		if s.Image == original {
			t.Errorf("the original was sent to %s", s.to)
		}
		got[s.to] = append(got[s.to], filepath.Base(s.Image))
	}
	if want := []string{"photo-1-grid.png", "photo-1-blur-2.png", "photo-1-blur-2.png"}; !slices.Equal(got["uma"], want) {
		t.Errorf("uma got %v, want %v", got["uma"], want)
	}
	if want := []string{"photo-1-blur-2.png"}; !slices.Equal(got["dev"], want) {
		t.Errorf("the donor who asked got %v, want %v", got["dev"], want)
	}
	for _, who := range []string{"neel", "ira", "asha", "organiser"} {
		if len(got[who]) > 0 {
			t.Errorf("%s asked for no updates but got %v", who, got[who])
		}
	}
	orig, err := imaging.Open(original)
	if err != nil {
		t.Fatal(err)
	}
	copyImg, err := imaging.Open(kept)
	if err != nil {
		t.Fatal(err)
	}
	b := orig.Bounds()
	for n := 1; n <= 9; n++ {
		r := image.Rect(b.Min.X+(n-1)%3*b.Dx()/3, b.Min.Y+(n-1)/3*b.Dy()/3, b.Min.X+((n-1)%3+1)*b.Dx()/3, b.Min.Y+((n-1)/3+1)*b.Dy()/3)
		diff := 0
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				if orig.At(x, y) != copyImg.At(x, y) {
					diff++
				}
			}
		}
		if n == 2 && diff < r.Dx()*r.Dy()/2 || n != 2 && diff != 0 {
			t.Errorf("square %d: %d pixels differ from the original", n, diff)
		}
	}
}

// A caption of the volunteer's own is used unless it gives away who was
// helped; then the drafted one is, and they are told why.
func TestOwnCaptionNamingAFamilyIsNotUsed(t *testing.T) {
	for _, c := range []struct {
		caption string
		used    bool
		found   []string
	}{
		{"Two families in Okhla got their kits today. Thank you, donors!", true, nil},
		{"Asha's family at B-12 got 2 kits", false, []string{"Asha", "B-12"}},
		{"Delivered today, call 98123 45678 for more", false, []string{"98123 45678"}},
	} {
		t.Run(c.caption, func(t *testing.T) {
			w, _ := outreachWorld(t)
			w.say("uma", "/take O-1")
			w.say("uma", c.caption)
			w.say("uma", "/blur")
			w.say("uma", "/blur none")
			out := strings.Join(w.say("uma", "/blur ok"), "\n")
			var posted string
			w.seed(func(tx *store.Tx) error {
				o, err := tx.Card("O-1")
				posted = o.Fields["post_caption_en"]
				return err
			})
			if c.used != (posted == c.caption) {
				t.Errorf("caption to post %q", posted)
			}
			for _, f := range c.found {
				if !strings.Contains(out, "gives away who was helped") || !strings.Contains(out, f) {
					t.Errorf("volunteer not told about %q:\n%s", f, out)
				}
			}
			if !c.used && !strings.Contains(out, "Our volunteers delivered 2 ration kits") {
				t.Errorf("the drafted caption was not sent to post:\n%s", out)
			}
		})
	}
}

// heldForDelivery puts a request with its kits reserved in the deliver
// stage, held by holder.
func heldForDelivery(t *testing.T, w *world, holder *store.Contact, at time.Time, place string) string {
	t.Helper()
	var id string
	w.seed(func(tx *store.Tx) error {
		c := &store.Card{Flow: "request", Stage: "deliver", Created: at, Updated: at, StageEntered: at, Assignee: holder.ID, LeaseUntil: at.Add(4 * time.Hour),
			Fields: map[string]string{"name": "Family", "phone": "9800000001", "address": place, "families": "1", "people": "4",
				"outcome": "approve", "kits": "2", "reserved_at": place}}
		if err := tx.NewCard("R", c); err != nil {
			return err
		}
		id = c.ID
		ok, err := tx.ReserveStock(store.StockEntry{At: at, Item: bot.KitItem, Location: place, Qty: 2, Card: c.ID, Actor: "system"})
		if !ok && err == nil {
			err = fmt.Errorf("no stock for %s", c.ID)
		}
		return err
	})
	return id
}

// A day's deliveries at one place make one outreach card with their
// numbers added up; the next day, or another place, starts another.
func TestOutreachCardPerPlaceAndDay(t *testing.T) {
	w := newWorld(t)
	w.say("organiser", "/stock add 20 kit at Okhla")
	w.say("organiser", "/stock add 20 kit at Jasola")
	photo := filepath.Join(filepath.Dir(w.path), "photos", "p.png")
	writePNG(t, photo, 30, 30)
	ravi := addPerson(t, w, "Ravi", "9811122233", bot.RoleLogistics)
	deliver := func(id string) {
		t.Helper()
		w.say("ravi", "/take "+id)
		w.say("ravi", "/photo "+photo)
		if got := strings.Join(w.say("ravi", "yes"), "\n"); !strings.Contains(got, id+" is now at: Delivered") {
			t.Fatalf("%s not delivered:\n%s", id, got)
		}
	}
	a := heldForDelivery(t, w, ravi, start, "Okhla")
	b := heldForDelivery(t, w, ravi, start, "Okhla")
	c := heldForDelivery(t, w, ravi, start, "Jasola")
	deliver(a)
	deliver(b)
	deliver(c)
	w.clock.Advance(24 * time.Hour)
	d := heldForDelivery(t, w, ravi, w.clock.Now(), "Okhla")
	deliver(d)
	want := map[string]map[string]string{
		"O-1": {"from": a + " " + b, "kits": "4", "families": "2", "area": "Okhla", "day": "2026-04-02"},
		"O-2": {"from": c, "kits": "2", "area": "Jasola", "day": "2026-04-02"},
		"O-3": {"from": d, "kits": "2", "area": "Okhla", "day": "2026-04-03"},
	}
	w.seed(func(tx *store.Tx) error {
		for id, fields := range want {
			o, err := tx.Card(id)
			if err != nil {
				return fmt.Errorf("%s: %w", id, err)
			}
			for k, v := range fields {
				if o.Fields[k] != v {
					t.Errorf("%s %s = %q, want %q", id, k, o.Fields[k], v)
				}
			}
			if n := len(strings.Split(o.Fields["photos"], "\n")); n != len(strings.Fields(fields["from"])) {
				t.Errorf("%s has %d photos", id, n)
			}
			for _, banned := range []string{"Family", "9800000001"} {
				if strings.Contains(o.Fields["caption_en"]+o.Fields["caption_hi"], banned) {
					t.Errorf("%s caption gives away %q", id, banned)
				}
			}
		}
		if _, err := tx.Card("O-4"); err == nil {
			t.Error("a fourth outreach card")
		}
		levels, err := tx.StockLevels()
		if err != nil {
			return err
		}
		for _, l := range levels {
			if l.Reserved != 0 {
				t.Errorf("%s still has %d reserved after every delivery", l.Location, l.Reserved)
			}
		}
		return nil
	})
}

// Whatever anyone types at the new commands gets an answer and never a
// failed message, with and without cards to act on.
func TestRequestCommandsNeverFail(t *testing.T) {
	w, _ := outreachWorld(t)
	addPerson(t, w, "Lata", "9811100013", bot.RoleLogistics)
	w.say("organiser", "/stock add 5 kit at Okhla")
	waitingRequests(t, w, 2, 9)
	inputs := []string{
		"/stock", "/stock add", "/stock add x", "/stock add 5 \"", "/stock add 99999999999 kit", "/stock add 3 “rice” at “Jasola",
		"/stock adjust", "/stock adjust -1", "/stock adjust -1 kit at Okhla:", "/stock adjust +1 kit at Okhla: found one", "/stock log kit",
		"/stock log", "/stock frob", "/dispatch", "/dispatch \"", "/dispatch okhla", "/picked", "/picked R-1 R-x", "/picked all",
		"/blur", "/blur O-1 1 2", "/blur 99", "/blur ok", "/blur drop", "/blur O-99", "/blur R-1", "/outreach", "/outreach O-1",
		"/received", "/notreceived R-1", "/updates", "/updates maybe", "/updates on",
	}
	for _, who := range []string{"organiser", "lata", "uma", "asha", "stranger"} {
		for _, in := range inputs {
			if got := w.say(who, in); len(got) == 0 {
				t.Errorf("%s> %s: no answer", who, in)
			}
		}
	}
	var failed int
	if err := w.st.DB().QueryRow(`SELECT count(*) FROM inbound WHERE failed IS NOT NULL`).Scan(&failed); err != nil {
		t.Fatal(err)
	}
	if failed > 0 {
		rows, _ := w.st.DB().Query(`SELECT failed, body FROM inbound WHERE failed IS NOT NULL`)
		defer rows.Close()
		for rows.Next() {
			var f, b string
			rows.Scan(&f, &b)
			t.Errorf("failed: %s (%s)", f, b)
		}
	}
}

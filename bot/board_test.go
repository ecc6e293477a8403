package bot_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"sewa/bot"
	"sewa/bot/console"
	"sewa/flows"
	"sewa/internal/golden"
	"sewa/store"
)

// ist is India's time, SEWA_TZ's default, as a fixed zone so that tests do
// not need the system's time zone database. start (10:00 UTC) is 15:30 IST.
var ist = time.FixedZone("IST", 5*3600+1800)

// istAt is a time on a day of April 2026, in IST.
func istAt(day, hour, minute int) time.Time {
	return time.Date(2026, 4, day, hour, minute, 0, 0, ist)
}

// istMar is a time on a day of March 2026, in IST.
func istMar(day, hour, minute int) time.Time {
	return time.Date(2026, 3, day, hour, minute, 0, 0, ist)
}

// boardWorld is a world in IST whose organiser has spoken first (and so
// coordinates).
func boardWorld(t *testing.T, opts ...bot.Option) *world {
	t.Helper()
	w := newWorld(t, append([]bot.Option{bot.WithLocation(ist)}, opts...)...)
	w.say("organiser", "/start")
	return w
}

// seed runs fn in one store transaction.
func (w *world) seed(fn func(tx *store.Tx) error) {
	w.t.Helper()
	if err := w.st.Tx(context.Background(), fn); err != nil {
		w.t.Fatal(err)
	}
}

// seedCard is a card for seeding: created into its first stage at created,
// then moved through moves; fields, holder and state as given.
type seedCard struct {
	prefix, flow, first string
	created             time.Time
	fields              map[string]string
	requester           *store.Contact
	moves               []seedMove
	holder              *store.Contact
	lease               time.Time
	closed              bool
}

type seedMove struct {
	to    string
	at    time.Time
	actor string
}

func (w *world) addCard(tx *store.Tx, s seedCard) (*store.Card, error) {
	c := &store.Card{Flow: s.flow, Stage: s.first, Fields: s.fields, Created: s.created, Updated: s.created, StageEntered: s.created}
	if s.requester != nil {
		c.Requester = s.requester.ID
	}
	if err := tx.NewCard(s.prefix, c); err != nil {
		return nil, err
	}
	actor := "system"
	if s.requester != nil {
		actor = s.requester.Key() + " " + s.requester.Name
	}
	if err := tx.AddEvent(store.Event{Card: c.ID, At: s.created, Actor: actor, To: c.Stage, What: "created"}); err != nil {
		return nil, err
	}
	for _, m := range s.moves {
		from := c.Stage
		c.Stage, c.StageEntered, c.Updated = m.to, m.at, m.at
		if err := tx.SaveCard(c); err != nil {
			return nil, err
		}
		if err := tx.AddEvent(store.Event{Card: c.ID, At: m.at, Actor: m.actor, From: from, To: m.to}); err != nil {
			return nil, err
		}
	}
	if s.holder != nil {
		c.Assignee, c.LeaseUntil = s.holder.ID, s.lease
		if err := tx.AddEvent(store.Event{Card: c.ID, At: c.StageEntered.Add(time.Hour), Actor: s.holder.Key() + " " + s.holder.Name,
			From: c.Stage, To: c.Stage, What: "taken"}); err != nil {
			return nil, err
		}
	}
	c.Open = !s.closed
	return c, tx.SaveCard(c)
}

func (w *world) addContact(tx *store.Tx, name, lang string, seen time.Time, roles ...string) *store.Contact {
	w.t.Helper()
	c := &store.Contact{Channel: console.Name, Address: strings.ToLower(name), Name: name, Lang: lang, Roles: roles,
		Created: seen.Add(-30 * 24 * time.Hour), LastSeen: seen}
	if err := tx.SaveContact(c); err != nil {
		w.t.Fatal(err)
	}
	return c
}

// seedBoard fills the board as it stands on 2 April at 15:30 IST: three
// requests to validate (one held, two stale), one waiting for stock, one
// out for dispatch, one delivered and one rejected today; three donations,
// a volunteer application and an outreach post; stock; and a second,
// Hindi-speaking coordinator.
func (w *world) seedBoard() {
	w.t.Helper()
	w.seed(func(tx *store.Tx) error {
		ravi := w.addContact(tx, "Ravi", "en", istAt(2, 10, 30), bot.RoleCaller)
		meena := w.addContact(tx, "Meena", "en", istAt(2, 12, 0), bot.RoleLogistics)
		sunil := w.addContact(tx, "Sunil", "en", istMar(30, 9, 0), bot.RoleCaller)
		w.addContact(tx, "Priya", "hi", istAt(2, 9, 0), bot.RoleCoordinator)
		asha := w.addContact(tx, "Asha", "en", istMar(30, 15, 30))
		bina := w.addContact(tx, "Bina", "hi", istAt(1, 10, 0))
		chandni := w.addContact(tx, "Chandni", "en", istAt(2, 13, 30))
		by := func(c *store.Contact) string { return c.Key() + " " + c.Name }
		far := istAt(5, 0, 0)
		cards := []seedCard{
			{prefix: "R", flow: "request", first: "validate", created: istMar(30, 15, 30), requester: asha,
				fields: map[string]string{"name": "Asha Devi", "phone": "9812345678", "address": "B-12 Sanjay Colony, near Okhla metro", "families": "1", "people": "5"}},
			{prefix: "R", flow: "request", first: "validate", created: istAt(1, 9, 30), requester: bina, holder: sunil, lease: far,
				fields: map[string]string{"name": "Bina Kumari", "phone": "9811111111", "address": "C-4 Madanpur Khadar", "families": "2", "people": "9",
					"special": "elderly mother"}},
			{prefix: "R", flow: "request", first: "validate", created: istAt(2, 13, 30), requester: chandni,
				fields: map[string]string{"name": "Chandni", "phone": "9822222222", "address": "Jasola village", "families": "1", "people": "4"}},
			{prefix: "R", flow: "request", first: "validate", created: istMar(31, 3, 30),
				fields: map[string]string{"name": "Dilip", "phone": "9844444444", "address": "Batla House", "families": "1", "people": "6", "outcome": "approve", "kits": "4"},
				moves:  []seedMove{{"allocate", istMar(31, 13, 30), by(ravi)}}},
			{prefix: "R", flow: "request", first: "validate", created: istAt(2, 9, 0), holder: meena, lease: far,
				fields: map[string]string{"name": "Ehsan", "phone": "9855555555", "address": "Shaheen Bagh", "families": "2", "people": "7", "outcome": "approve", "kits": "2"},
				moves:  []seedMove{{"allocate", istAt(2, 10, 30), by(ravi)}, {"dispatch", istAt(2, 10, 30), "system"}}},
			{prefix: "R", flow: "request", first: "validate", created: istAt(1, 12, 0), closed: true,
				fields: map[string]string{"name": "Farida", "phone": "9866666666", "address": "Abul Fazal", "families": "3", "people": "12", "outcome": "approve",
					"kits": "3", "kits_given": "3", "proof": "photos/r6.jpg"},
				moves: []seedMove{{"allocate", istAt(1, 14, 0), by(ravi)}, {"dispatch", istAt(1, 14, 0), "system"},
					{"deliver", istAt(2, 11, 0), by(meena)}, {"delivered", istAt(2, 12, 0), by(meena)}}},
			{prefix: "R", flow: "request", first: "validate", created: istAt(1, 16, 0), closed: true,
				fields: map[string]string{"name": "Gopal", "phone": "9877777777", "address": "Noida sector 5", "families": "1", "people": "3", "outcome": "reject",
					"reason": "outside our area"},
				moves: []seedMove{{"rejected", istAt(2, 9, 30), by(ravi)}}},
			{prefix: "D", flow: "donation", first: "identify", created: istAt(2, 11, 0),
				fields: map[string]string{"amount": "1100.00", "ref": "407312200456", "counterparty": "RAHUL K", "date": "2026-04-02", "bank": "SBI"}},
			{prefix: "D", flow: "donation", first: "identify", created: istAt(2, 12, 0),
				fields: map[string]string{"amount": "1100.50", "ref": "407312200789", "counterparty": "sunita@okaxis", "date": "2026-04-02", "bank": "HDFC",
					"who": "known", "donor_name": "Sunita Sharma"},
				moves: []seedMove{{"collect", istAt(2, 12, 30), "console:organiser organiser"}}},
			{prefix: "D", flow: "donation", first: "identify", created: istAt(1, 20, 0),
				fields: map[string]string{"amount": "5000.00", "ref": "407312200111", "counterparty": "AMIT", "date": "2026-04-01", "bank": "SBI"}},
			{prefix: "V", flow: "volunteer", first: "review", created: istMar(31, 10, 0),
				fields: map[string]string{"name": "Mohan Lal", "phone": "9833333333", "area": "Okhla", "skills": "delivery", "languages": "Hindi",
					"availability": "weekends"}},
			{prefix: "O", flow: "outreach", first: "draft", created: istAt(2, 12, 0),
				fields: map[string]string{"from": "R-6", "kits": "3", "families": "3"}},
		}
		for _, s := range cards {
			if _, err := w.addCard(tx, s); err != nil {
				return err
			}
		}
		for _, e := range []store.StockEntry{
			{At: istAt(1, 10, 0), Item: bot.KitItem, Kind: store.StockReceived, Qty: 50, Actor: "console:organiser organiser"},
			{At: istAt(1, 14, 0), Item: bot.KitItem, Kind: store.StockReserved, Qty: 3, Card: "R-6", Actor: "system"},
			{At: istAt(2, 10, 30), Item: bot.KitItem, Kind: store.StockReserved, Qty: 2, Card: "R-5", Actor: "system"},
			{At: istAt(2, 12, 0), Item: bot.KitItem, Kind: store.StockDelivered, Qty: 3, Card: "R-6", Actor: by(meena)},
		} {
			if err := tx.AddStock(e); err != nil {
				return err
			}
		}
		// Telegram: a message a minute ago, two waiting, one failed.
		if _, err := tx.MarkInbound("tg", "7001", start.Add(-time.Minute)); err != nil {
			return err
		}
		for range 3 {
			if _, err := tx.Enqueue("tg", "42", `{"text":"hi"}`, start.Add(-time.Hour)); err != nil {
				return err
			}
		}
		return nil
	})
	var id int64
	if err := w.st.DB().QueryRow(`SELECT min(id) FROM outbox WHERE channel = 'tg'`).Scan(&id); err != nil {
		w.t.Fatal(err)
	}
	if err := w.st.MarkFailed(context.Background(), id, "chat not found"); err != nil {
		w.t.Fatal(err)
	}
}

// fakeChannel is a channel that reports its health and sends nothing.
type fakeChannel struct {
	name   string
	health bot.ChannelHealth
}

func (f fakeChannel) Name() string                                       { return f.name }
func (f fakeChannel) Caps() bot.Caps                                     { return bot.Caps{Buttons: true} }
func (f fakeChannel) Receive(ctx context.Context, _ bot.Inbox) error     { <-ctx.Done(); return nil }
func (f fakeChannel) Send(context.Context, bot.Outgoing) (string, error) { return "", bot.ErrTransient }
func (f fakeChannel) Health() bot.ChannelHealth                          { return f.health }

var boardChannels = []bot.Option{
	bot.WithChannel(fakeChannel{name: "tg", health: bot.ChannelHealth{Connected: true, LastUpdate: start.Add(-30 * time.Second)}}),
	bot.WithChannel(fakeChannel{name: "wa", health: bot.ChannelHealth{Problem: "logged out", LastUpdate: start.Add(-26 * time.Hour)}}),
}

// The board as each reader sees it, pinned as golden files
// (testdata/board/*.txt; go test ./bot/ -run TestBoardGolden -update).
func TestBoardGolden(t *testing.T) {
	cases := []struct{ name, who, text string }{
		{"status", "organiser", "/status"},
		{"status_hindi", "priya", "/status"},
		{"status_request", "organiser", "/status R"},
		{"status_donation", "organiser", "/status donation"},
		{"status_volunteer", "organiser", "/status vol"},
		{"card_coordinator", "organiser", "/card R-2"},
		{"card_holder", "sunil", "/card r2"},
		{"card_volunteer", "ravi", "/card R-2"},
		{"card_delivered", "organiser", "/card R-6"},
		{"card_donation_volunteer", "ravi", "/card D-2"},
		{"find_place", "organiser", "/find okhla"},
		{"find_phone", "organiser", "/find +91 98111 11111"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := boardWorld(t, boardChannels...)
			w.seedBoard()
			got := strings.Join(w.say(c.who, c.text), "\n") + "\n"
			golden.Check(t, filepath.Join("testdata", "board", c.name+".txt"), "# "+c.who+"> "+c.text+"\n"+got)
		})
	}
}

// /status is for coordinators: a volunteer or a stranger gets one line.
func TestStatusRefusedToOthers(t *testing.T) {
	w := boardWorld(t)
	w.seedBoard()
	for _, who := range []string{"ravi", "asha", "stranger"} {
		got := w.say(who, "/status")
		if len(got) != 1 || got[0] != "→ "+who+": /status is only for: coordinators." {
			t.Errorf("%s> /status:\n%s", who, strings.Join(got, "\n"))
		}
	}
}

// tickOut runs every job at the clock's now and returns the messages sent,
// one string each ("→ ravi: Reminder: …\n    R-1 …").
func (w *world) tickOut() []string {
	w.t.Helper()
	ctx := context.Background()
	if err := w.rt.Tick(ctx); err != nil {
		w.t.Fatal(err)
	}
	if err := w.rt.Flush(ctx, console.Name); err != nil {
		w.t.Fatal(err)
	}
	out := w.out.String()
	w.out.Reset()
	return splitMessages(out)
}

func splitMessages(out string) []string {
	var msgs []string
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		switch {
		case strings.HasPrefix(line, "→ "):
			msgs = append(msgs, line)
		case len(msgs) > 0 && line != "":
			msgs[len(msgs)-1] += "\n" + line
		}
	}
	return msgs
}

// about keeps the messages to who that contain text.
func about(msgs []string, who, text string) []string {
	var out []string
	for _, m := range msgs {
		if strings.HasPrefix(m, "→ "+who+": ") && strings.Contains(m, text) {
			out = append(out, m)
		}
	}
	return out
}

// reminders keeps the stale-card reminders among msgs.
func reminders(msgs []string) []string {
	var out []string
	for _, m := range msgs {
		if strings.Contains(m, ": Reminder:") || strings.Contains(m, ": Stale cards") {
			out = append(out, m)
		}
	}
	return out
}

func (w *world) reminders(card string) []store.Reminder {
	w.t.Helper()
	var rs []store.Reminder
	w.seed(func(tx *store.Tx) error {
		var err error
		rs, err = tx.Reminders(card)
		return err
	})
	return rs
}

// A stale card reminds its holder once, then, a stale_after later, tells
// the coordinators once; a card nobody holds goes to the coordinators at
// once. Restarts in between repeat nothing.
func TestStaleReminderOnceThenEscalation(t *testing.T) {
	w := boardWorld(t)
	var ravi *store.Contact
	w.seed(func(tx *store.Tx) error {
		ravi = w.addContact(tx, "Ravi", "en", start, bot.RoleCaller)
		if _, err := w.addCard(tx, seedCard{prefix: "R", flow: "request", first: "validate", created: start, holder: ravi, lease: start.Add(7 * 24 * time.Hour),
			fields: map[string]string{"name": "Asha Devi", "phone": "9812345678"}}); err != nil {
			return err
		}
		_, err := w.addCard(tx, seedCard{prefix: "R", flow: "request", first: "validate", created: start.Add(time.Hour)})
		return err
	})
	type step struct {
		at                 time.Duration // after start
		restart            bool
		holder, escalation []string // cards in the messages to ravi and to the organiser
	}
	steps := []step{
		{at: 0},
		{at: 23 * time.Hour},
		{at: 24*time.Hour + 5*time.Minute, holder: []string{"R-1"}},
		{at: 24*time.Hour + 10*time.Minute},
		{at: 25*time.Hour + 5*time.Minute, escalation: []string{"R-2"}},
		{at: 25*time.Hour + 10*time.Minute, restart: true},
		{at: 47 * time.Hour, restart: true},
		{at: 48*time.Hour + 5*time.Minute, escalation: []string{"R-1"}},
		{at: 48*time.Hour + 10*time.Minute, restart: true},
		{at: 6 * 24 * time.Hour},
	}
	for _, s := range steps {
		w.clock.Advance(start.Add(s.at).Sub(w.clock.Now()))
		if s.restart {
			w.restart()
		}
		msgs := w.tickOut()
		// Other jobs (offers, the digest) send too; only reminders count here.
		toRavi := about(msgs, "ravi", "Reminder:")
		toOrganiser := about(msgs, "organiser", "Stale cards")
		check := func(who string, got []string, title string, want []string) {
			if len(want) == 0 {
				if len(got) != 0 {
					t.Errorf("+%s: %s got %q", s.at, who, got)
				}
				return
			}
			if len(got) != 1 || !strings.Contains(got[0], title) {
				t.Errorf("+%s: %s got %q, want one %q", s.at, who, got, title)
				return
			}
			for _, id := range want {
				if !strings.Contains(got[0], id+" ·") {
					t.Errorf("+%s: %s's message lacks %s:\n%s", s.at, who, id, got[0])
				}
			}
			if n := strings.Count(got[0], "\n    R-"); n != len(want) {
				t.Errorf("+%s: %s's message lists other cards:\n%s", s.at, who, got[0])
			}
		}
		check("ravi", toRavi, "Reminder:", s.holder)
		check("organiser", toOrganiser, "Stale cards", s.escalation)
	}
	if rs := w.reminders("R-1"); len(rs) != 2 || rs[0].Level != store.RemindHolder || rs[0].Contact != ravi.ID || rs[1].Level != store.RemindCoordinators {
		t.Errorf("R-1 reminders: %+v", rs)
	}
	if rs := w.reminders("R-2"); len(rs) != 1 || rs[0].Level != store.RemindCoordinators {
		t.Errorf("R-2 reminders: %+v", rs)
	}
	card := strings.Join(w.say("organiser", "/card R-1"), "\n")
	for _, want := range []string{"3 Apr 15:35 system: stale: Ravi reminded", "4 Apr 15:35 system: stale: coordinators told"} {
		if !strings.Contains(card, want) {
			t.Errorf("history lacks %q:\n%s", want, card)
		}
	}
}

// Reminders due in quiet hours wait for the end of them; none is lost.
func TestQuietHoursDeferReminders(t *testing.T) {
	cases := []struct {
		name   string
		opts   []bot.Option
		ticks  []time.Time
		sentAt time.Time // the first tick that sends; zero: none
	}{
		{"default 22:00-07:00", nil,
			[]time.Time{istAt(2, 22, 35), istAt(3, 2, 0), istAt(3, 6, 55), istAt(3, 7, 0), istAt(3, 7, 5)}, istAt(3, 7, 0)},
		{"23:00-06:00", []bot.Option{bot.WithQuietHours("23:00", "06:00")},
			[]time.Time{istAt(2, 22, 35), istAt(2, 22, 40)}, istAt(2, 22, 35)},
		{"daytime quiet 09:00-18:00", []bot.Option{bot.WithQuietHours("09:00", "18:00")},
			[]time.Time{istAt(3, 9, 0), istAt(3, 17, 55), istAt(3, 18, 0)}, istAt(3, 18, 0)},
		{"off", []bot.Option{bot.WithQuietHours("00:00", "00:00")},
			[]time.Time{istAt(2, 22, 35)}, istAt(2, 22, 35)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := boardWorld(t, c.opts...)
			w.seed(func(tx *store.Tx) error {
				// Stale (24h) at 22:30 IST on 2 April.
				_, err := w.addCard(tx, seedCard{prefix: "R", flow: "request", first: "validate", created: istAt(1, 22, 30)})
				return err
			})
			var sent []time.Time
			for _, at := range c.ticks {
				w.clock.Advance(at.Sub(w.clock.Now()))
				if n := len(about(w.tickOut(), "organiser", "R-1 ·")); n > 0 {
					sent = append(sent, at)
				}
			}
			if len(sent) != 1 || !sent[0].Equal(c.sentAt) {
				t.Errorf("reminders sent at %v, want once at %v", sent, c.sentAt)
			}
		})
	}
}

// A card that moved on is not reminded of its old stage, whether the
// reminder waited for quiet hours or the escalation for its second period;
// its new stage counts from when it entered.
func TestMovedCardGetsNoReminderForOldStage(t *testing.T) {
	w := boardWorld(t)
	w.seed(func(tx *store.Tx) error {
		ravi := w.addContact(tx, "Ravi", "en", start, bot.RoleCaller)
		// stale at 22:30 IST, in quiet hours. R-2: held, stale at 16:00 IST.
		if _, err := w.addCard(tx, seedCard{prefix: "R", flow: "request", first: "validate", created: istAt(1, 22, 30)}); err != nil {
			return err
		}
		_, err := w.addCard(tx, seedCard{prefix: "R", flow: "request", first: "validate", created: istAt(1, 16, 0), holder: ravi, lease: istAt(9, 0, 0)})
		return err
	})
	w.clock.Advance(istAt(2, 16, 5).Sub(w.clock.Now()))
	if got := about(w.tickOut(), "ravi", "R-2 ·"); len(got) != 1 {
		t.Fatalf("R-2's holder was not reminded: %q", got)
	}
	w.clock.Advance(istAt(2, 23, 0).Sub(w.clock.Now()))
	if got := reminders(w.tickOut()); len(got) != 0 {
		t.Fatalf("in quiet hours: %q", got)
	}
	w.say("organiser", "/move R-1 rejected")
	w.say("organiser", "/move R-2 dispatch")
	for _, at := range []time.Time{istAt(3, 7, 0), istAt(3, 16, 5), istAt(3, 23, 55)} {
		w.clock.Advance(at.Sub(w.clock.Now()))
		if got := reminders(w.tickOut()); len(got) != 0 {
			t.Errorf("%s: %q", at.Format("2 Jan 15:04"), got)
		}
	}
	// R-2 went stale again in dispatch (24h from 23:00): a new stage entry,
	// so it is reminded again; nobody holds it now, so coordinators hear.
	w.clock.Advance(istAt(4, 7, 0).Sub(w.clock.Now()))
	if got := about(w.tickOut(), "organiser", "R-2 · Dispatch"); len(got) != 1 {
		t.Errorf("R-2 stale in dispatch: %q", got)
	}
	if rs := w.reminders("R-1"); len(rs) != 0 {
		t.Errorf("R-1 reminders %+v", rs)
	}
}

// Two processes on one database send each reminder and the digest once.
func TestTwoProcessesRemindOnce(t *testing.T) {
	w := boardWorld(t, bot.WithDigestAt("08:00"))
	w.seed(func(tx *store.Tx) error {
		ravi := w.addContact(tx, "Ravi", "en", start, bot.RoleCaller)
		for i := range 5 {
			if _, err := w.addCard(tx, seedCard{prefix: "R", flow: "request", first: "validate", created: start.Add(time.Duration(i) * time.Minute),
				holder: ravi, lease: start.Add(9 * 24 * time.Hour)}); err != nil {
				return err
			}
		}
		return nil
	})
	st2, set := openStoreAndFlows(t, w.path)
	defer st2.Close()
	log := slog.New(slog.NewTextHandler(testLog{t}, nil))
	rt2 := bot.New(st2, set, bot.WithClock(w.clock), bot.WithLocation(ist), bot.WithLogger(log), bot.WithDigestAt("08:00"),
		bot.WithChannel(console.New(strings.NewReader(""), &strings.Builder{}, console.WithRunID("second"))))
	count := func(like string) int {
		var n int
		if err := w.st.DB().QueryRow(`SELECT count(*) FROM outbox WHERE body LIKE ?`, "%"+like+"%").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, at := range []time.Time{istAt(3, 16, 0), istAt(3, 16, 5), istAt(4, 16, 0), istAt(4, 16, 5)} {
		w.clock.Advance(at.Sub(w.clock.Now()))
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, rt := range []*bot.Runtime{w.rt, rt2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = rt.Tick(context.Background())
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := [3]int{count("Reminder:"), count("Stale cards"), count("Daily summary")}; got != [3]int{1, 1, 2} {
		t.Errorf("reminders, escalations, digests = %v; want one holder reminder, one escalation and one digest a day", got)
	}
	var n int
	w.st.DB().QueryRow(`SELECT count(*) FROM reminders`).Scan(&n)
	if n != 10 {
		t.Errorf("%d reminders recorded, want 2 for each of 5 cards", n)
	}
}

// The digest goes to coordinators once a day at its time with yesterday's
// numbers, what is stale and who holds cards unseen.
func TestDigest(t *testing.T) {
	w := boardWorld(t, append([]bot.Option{bot.WithDigestAt(bot.DefaultDigestAt)}, boardChannels...)...)
	w.seedBoard()
	digests := func(msgs []string) []string { return about(msgs, "organiser", "Daily summary") }
	w.clock.Advance(istAt(3, 7, 55).Sub(w.clock.Now()))
	if got := digests(w.tickOut()); len(got) != 0 {
		t.Fatalf("digest before its time: %q", got)
	}
	w.clock.Advance(5 * time.Minute)
	msgs := w.tickOut()
	got := digests(msgs)
	if len(got) != 1 {
		t.Fatalf("digests at 08:00: %q", got)
	}
	for _, want := range []string{
		"Yesterday (2 Apr): requests 2 new, 2 validated, 1 delivered (3 kits); donations 2, ₹2,200.50; volunteers active 2",
		"Stale now: 4 — ",
		"Holding cards, not seen for a day: Sunil (R-2;",
	} {
		if !strings.Contains(got[0], want) {
			t.Errorf("digest lacks %q:\n%s", want, got[0])
		}
	}
	if hi := about(msgs, "priya", "दैनिक सारांश"); len(hi) != 1 {
		t.Errorf("the Hindi-speaking coordinator got %q", about(msgs, "priya", ""))
	}
	golden.Check(t, filepath.Join("testdata", "board", "digest.txt"), got[0]+"\n")
	w.clock.Advance(time.Hour)
	if got := digests(w.tickOut()); len(got) != 0 {
		t.Errorf("a second digest the same day: %q", got)
	}
	w.restart()
	if got := digests(w.tickOut()); len(got) != 0 {
		t.Errorf("a second digest after a restart: %q", got)
	}
	w.clock.Advance(istAt(4, 8, 0).Sub(w.clock.Now()))
	if got := digests(w.tickOut()); len(got) != 1 || !strings.Contains(got[0], "Yesterday (3 Apr): requests 0 new") {
		t.Errorf("the next day's digest: %q", got)
	}
}

func TestDigestOffAndTimes(t *testing.T) {
	for _, opts := range [][]bot.Option{nil, {bot.WithDigestAt("off")}, {bot.WithDigestAt("08:00"), bot.WithDigestAt("off")}} {
		w := boardWorld(t, opts...)
		w.clock.Advance(48 * time.Hour)
		if got := about(w.tickOut(), "organiser", "Daily summary"); len(got) != 0 {
			t.Errorf("digest off (%d options), got %q", len(opts), got)
		}
	}
	for _, c := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"08:00", 8 * time.Hour, true}, {"7:05", 7*time.Hour + 5*time.Minute, true}, {"23:59", 23*time.Hour + 59*time.Minute, true},
		{"24:00", 0, false}, {"8", 0, false}, {"08:60", 0, false}, {"", 0, false},
	} {
		got, err := bot.ParseTimeOfDay(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseTimeOfDay(%q) = %v, %v", c.in, got, err)
		}
	}
}

// Every coordinators' message has English and Hindi.
func TestBoardMessagesHaveBothLanguages(t *testing.T) {
	set, err := flows.Default(bot.ActionNames())
	if err != nil {
		t.Fatal(err)
	}
	if missing := set.Catalog.Missing(); len(missing) > 0 {
		t.Errorf("catalog entries without a language: %v", missing)
	}
	for _, key := range []string{"status_today", "day_numbers", "remind_holder", "remind_coordinators", "digest_title", "find_title", "move_done"} {
		if _, ok := set.Catalog[key]; !ok {
			t.Errorf("no catalog entry %s", key)
		}
	}
}

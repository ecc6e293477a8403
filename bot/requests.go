package bot

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"sewa/flows"
	"sewa/store"
)

// Ration-kit requests after the intake: the caller's call (tries counted,
// coordinators told after three), allocation (stock.go), dispatch in batches
// by area (/dispatch, /picked), delivery with proof and the kits handed over
// (the rest goes back to stock), the requester's confirmation (/received),
// and the outreach post made from deliveries (outreach.go), which reaches
// the donors who asked for updates (/updates).

const (
	// unreachableTries is how many failed calls send a request to the
	// coordinators.
	unreachableTries = 3
	// dispatchBatch is the most cards /dispatch AREA takes at once.
	dispatchBatch = 8
	// receiptQuestionOpen is how long a requester may answer "did it reach
	// you?"; no answer is fine. Questions are forgotten after
	// receiptQuestionKept.
	receiptQuestionOpen = 7 * 24 * time.Hour
	receiptQuestionKept = 30 * 24 * time.Hour
)

// WithShareVolunteerPhone lets requesters see the phone number of the
// volunteer bringing their kits in the "on its way" message (default: the
// first name only).
func WithShareVolunteerPhone(share bool) Option {
	return func(r *Runtime) { r.actions["set_courier"] = courierAction(share) }
}

// requestCommands are the logistics volunteers' (stock, dispatch), the
// outreach volunteers' (blurring faces, the post) and, for the people they
// concern, the answers to "did the kits reach you?" and the choice of
// updates about deliveries.
func (h *handling) requestCommands() []command {
	cmds := []command{
		{name: "stock", roles: []string{RoleLogistics}, help: "help_stock", run: (*handling).cmdStock},
		{name: "dispatch", roles: []string{RoleLogistics}, help: "help_dispatch", run: (*handling).cmdDispatch},
		{name: "picked", roles: []string{RoleLogistics}, help: "help_picked", run: (*handling).cmdPicked},
		{name: "blur", roles: []string{RoleOutreach}, help: "help_blur", run: (*handling).cmdBlur},
		{name: "outreach", roles: []string{RoleOutreach}, help: "help_outreach", run: (*handling).cmdOutreach},
	}
	return append(cmds, h.personalCommands()...)
}

// personalCommands are offered only to whom they concern, so nobody else's
// list of what they can do grows: /received and /notreceived to a requester
// asked about a delivery, /updates to donors and to whoever chose updates.
func (h *handling) personalCommands() []command {
	if h.tx == nil || h.who == nil || h.who.ID == 0 {
		return nil
	}
	var cmds []command
	asks, err := h.tx.ReceiptAsks(h.who.ID, h.now.Add(-receiptQuestionOpen))
	if err != nil {
		h.r.log.Warn("receipt questions", "contact", h.who.Key(), "err", err)
	}
	if len(asks) > 0 {
		cmds = append(cmds,
			command{name: "received", help: "help_received", run: func(h *handling, args string) error { return h.answerReceipt(args, true) }},
			command{name: "notreceived", help: "help_notreceived", run: func(h *handling, args string) error { return h.answerReceipt(args, false) }})
	}
	donor, err := h.tx.IsDonor(h.who.ID)
	if err != nil {
		h.r.log.Warn("donor", "contact", h.who.Key(), "err", err)
	}
	_, set, err := h.tx.Updates(h.who.ID)
	if err != nil {
		h.r.log.Warn("updates", "contact", h.who.Key(), "err", err)
	}
	if donor || set || h.who.Has(RoleCoordinator) {
		cmds = append(cmds, command{name: "updates", help: "help_updates", run: (*handling).cmdUpdates})
	}
	return cmds
}

// requestJobs give back stock that closed cards held.
func (r *Runtime) requestJobs() []job {
	return []job{{name: "stock", spec: "@every 1m", run: r.stockJob}}
}

// noteUnreachable is the note_unreachable action, on the route of a call
// that could not reach the requester: it counts the try on the card and,
// from the third on, tells the coordinators. The card goes back to the
// queue, behind the others, for another caller to try later.
func noteUnreachable(h *handling, card *store.Card) error {
	tries, _ := strconv.Atoi(card.Fields["call_tries"])
	tries++
	card.Fields["call_tries"] = strconv.Itoa(tries)
	if err := h.event(card, card.Stage, card.Stage, fmt.Sprintf("could not reach the requester (try %d)", tries)); err != nil {
		return err
	}
	if tries < unreachableTries {
		return nil
	}
	people, err := h.tx.ContactsWithRole(RoleCoordinator)
	if err != nil {
		return err
	}
	for _, p := range people {
		if err := h.tell(p, "request_unreachable", "card", card.ID, "tries", tries); err != nil {
			return err
		}
	}
	return nil
}

// courierAction is the set_courier action, on the route of kits picked up:
// it names the volunteer bringing them ({courier} in the requester's
// message) by first name, with their phone number only when the group
// allows it.
func courierAction(sharePhone bool) Action {
	return func(h *handling, card *store.Card) error {
		name := h.catalog().Get(h.requesterLang(card), "request_courier_someone")
		if h.who != nil && firstName(h.who.Name) != "" {
			name = firstName(h.who.Name)
			if sharePhone && h.who.Phone != "" {
				name += " (" + h.who.Phone + ")"
			}
		}
		card.Fields["courier"] = name
		return nil
	}
}

// settleDelivery is the settle_delivery action, on the routes out of
// delivery: the kits handed over are written off the stock the card held,
// the rest is released back with the volunteer's reason, and released kits
// go to the requests waiting for them. When kits were handed over the
// requester is asked whether they reached them.
func settleDelivery(h *handling, card *store.Card) error {
	kits := kitsOf(card)
	given := kits
	if card.Fields["all_given"] != "yes" {
		n, err := strconv.Atoi(card.Fields["kits_given"])
		if err == nil && n >= 0 {
			given = n
		}
	}
	card.Fields["kits_given"] = strconv.Itoa(given)
	reason := strings.TrimSpace(card.Fields["short_reason"])
	if card.Fields["all_given"] == "yes" {
		reason = ""
	}
	held, err := h.tx.StockHeld(card.ID)
	if err != nil {
		return err
	}
	left, released := given, 0
	for _, hd := range held {
		d := min(left, hd.Qty)
		left -= d
		if d > 0 {
			if err := h.tx.AddStock(store.StockEntry{At: h.now, Item: hd.Item, Location: hd.Location, Kind: store.StockDelivered,
				Qty: d, Card: card.ID, Actor: h.actor()}); err != nil {
				return err
			}
		}
		if back := hd.Qty - d; back > 0 {
			note := fmt.Sprintf("handed over %d of %d", given, kits)
			if reason != "" {
				note += ": " + reason
			}
			if err := h.tx.AddStock(store.StockEntry{At: h.now, Item: hd.Item, Location: hd.Location, Kind: store.StockReleased,
				Qty: back, Card: card.ID, Actor: h.actor(), Note: note}); err != nil {
				return err
			}
			released += back
		}
	}
	if left > 0 {
		// More handed over than was reserved (or nothing was): the kits
		// left the store all the same.
		place, err := h.deliveredFrom(card, held)
		if err != nil {
			return err
		}
		if err := h.tx.AddStock(store.StockEntry{At: h.now, Item: itemOf(card), Location: place, Kind: store.StockAdjusted,
			Qty: -left, Card: card.ID, Actor: h.actor(), Note: fmt.Sprintf("handed over %d more than were reserved for %s", left, card.ID)}); err != nil {
			return err
		}
	}
	what := fmt.Sprintf("handed over %d %s", given, itemOf(card))
	if released > 0 {
		card.Fields["kits_released"] = strconv.Itoa(released)
		what += fmt.Sprintf("; %d back to stock", released)
		if reason != "" {
			what += ": " + reason
		}
	}
	if err := h.event(card, card.Stage, card.Stage, what); err != nil {
		return err
	}
	if given > 0 && card.Requester != 0 {
		if err := h.tx.AskReceipt(card.Requester, card.ID, h.now); err != nil {
			return err
		}
	}
	if released == 0 {
		return nil
	}
	_, _, err = h.allocatePass(nil)
	return err
}

// deliveredFrom is the place kits handed over beyond what was reserved
// came from: where the card's kits were kept, else the place with the most
// of the item on hand.
func (h *handling) deliveredFrom(card *store.Card, held []store.Hold) (string, error) {
	if len(held) > 0 {
		return held[0].Location, nil
	}
	if p, ok := card.Fields[reservedAtField]; ok {
		return p, nil
	}
	levels, err := h.tx.StockLevels()
	if err != nil {
		return "", err
	}
	place, most := "", 0
	for _, l := range levels {
		if l.Item == itemOf(card) && l.OnHand > most {
			place, most = l.Location, l.OnHand
		}
	}
	return place, nil
}

// answerReceipt records the requester's answer to "did it reach you?".
// "Not received" goes to the coordinators at once.
func (h *handling) answerReceipt(args string, got bool) error {
	asks, err := h.tx.ReceiptAsks(h.who.ID, h.now.Add(-receiptQuestionOpen))
	if err != nil {
		return err
	}
	id, _ := cardArg(args)
	if id == "" && len(asks) > 0 {
		id = asks[0]
	}
	if !slices.Contains(asks, id) {
		return h.say("receipt_no_question", "card", id)
	}
	if _, err := h.tx.CloseReceiptAsk(h.who.ID, id); err != nil {
		return err
	}
	card, err := h.tx.Card(id)
	if err != nil {
		return err
	}
	if got {
		card.Fields["receipt"] = "confirmed"
		if err := h.event(card, card.Stage, card.Stage, "the requester confirmed the kits reached them"); err != nil {
			return err
		}
	} else {
		card.Fields["receipt"] = "not received"
		if err := h.event(card, card.Stage, card.Stage, "the requester says the kits did NOT reach them"); err != nil {
			return err
		}
		people, err := h.tx.ContactsWithRole(RoleCoordinator)
		if err != nil {
			return err
		}
		for _, p := range people {
			if err := h.tell(p, "receipt_missing", "card", card.ID, "courier", card.Fields["courier"], "when", h.when(card.StageEntered)); err != nil {
				return err
			}
		}
	}
	card.Updated = h.now
	if err := h.tx.SaveCard(card); err != nil {
		return err
	}
	if got {
		return h.say("receipt_thanks", "card", card.ID)
	}
	return h.say("receipt_sorry", "card", card.ID)
}

// cmdUpdates turns photo updates about deliveries on or off for the sender.
func (h *handling) cmdUpdates(args string) error {
	switch strings.ToLower(strings.Trim(strings.TrimSpace(args), ".!")) {
	case "on", "yes", "y", "haan", "ha", "हाँ", "हां", "start":
		if err := h.tx.SetUpdates(h.who.ID, true, h.now, "/updates"); err != nil {
			return err
		}
		return h.say("updates_on")
	case "off", "no", "n", "nahi", "nahin", "नहीं", "stop":
		if err := h.tx.SetUpdates(h.who.ID, false, h.now, "/updates"); err != nil {
			return err
		}
		return h.say("updates_off")
	case "":
		wants, _, err := h.tx.Updates(h.who.ID)
		if err != nil {
			return err
		}
		if wants {
			return h.say("updates_are_on")
		}
		return h.say("updates_are_off")
	}
	return h.say("updates_usage")
}

// dispatchStages are the stages allocate stages route to: where kits wait
// to be picked up.
func (r *Runtime) dispatchStages() []store.StageRef {
	var out []store.StageRef
	for _, ref := range r.allocateStages() {
		f := r.flows.Flow(ref.Flow)
		for _, rt := range f.Stage(ref.Stage).Routes {
			s := store.StageRef{Flow: f.ID, Stage: rt.To}
			if isQueue(f.Stage(rt.To)) && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// freeForDispatch lists the cards waiting to be picked up that nobody
// holds, oldest first.
func (h *handling) freeForDispatch() ([]*store.Card, error) {
	var out []*store.Card
	for _, ref := range h.r.dispatchStages() {
		cards, err := h.tx.Queue(ref.Flow, ref.Stage, allocateBatch)
		if err != nil {
			return nil, err
		}
		for _, c := range cards {
			if c.Assignee == 0 || !c.LeaseUntil.After(h.now) {
				out = append(out, c)
			}
		}
	}
	return out, nil
}

// cmdDispatch lists the requests whose kits are ready, by the place they are
// kept (no names or addresses: nobody holds them yet); with an area it
// takes a batch of them for the sender, matched on the place or the
// address, and shows each with its address, landmark and phone.
func (h *handling) cmdDispatch(args string) error {
	if p, err := h.paused(); p || err != nil {
		return err
	}
	cards, err := h.freeForDispatch()
	if err != nil {
		return err
	}
	area := strings.TrimSpace(args)
	if area == "" {
		return h.dispatchList(cards)
	}
	want := strings.ToLower(area)
	var batch []*store.Card
	for _, c := range cards {
		if len(batch) == dispatchBatch {
			break
		}
		if c.Requester == h.who.ID {
			continue
		}
		where := strings.ToLower(c.Fields[reservedAtField] + " | " + c.Fields["address"] + " | " + c.Fields["area"])
		if !strings.Contains(where, want) {
			continue
		}
		ok, err := h.claim(c, "taken for delivery in "+area)
		if err != nil {
			return err
		}
		if ok {
			batch = append(batch, c)
		}
	}
	if len(batch) == 0 {
		return h.say("dispatch_no_match", "area", area)
	}
	return h.showBatch(batch)
}

func (h *handling) dispatchList(cards []*store.Card) error {
	if len(cards) == 0 {
		return h.say("dispatch_none")
	}
	type group struct {
		place string
		ids   []string
		kits  int
	}
	var groups []*group
	for _, c := range cards {
		p := c.Fields[reservedAtField]
		i := slices.IndexFunc(groups, func(g *group) bool { return g.place == p })
		if i < 0 {
			groups = append(groups, &group{place: p})
			i = len(groups) - 1
		}
		g := groups[i]
		g.ids = append(g.ids, fmt.Sprintf("%s (%d)", c.ID, kitsOf(c)))
		g.kits += kitsOf(c)
	}
	var b strings.Builder
	b.WriteString(h.catalog().Get(h.lang, "dispatch_title"))
	for _, g := range groups {
		b.WriteString("\n" + h.catalog().Get(h.lang, "dispatch_group", "place", h.placeName(g.place), "n", len(g.ids), "kits", g.kits,
			"cards", strings.Join(g.ids, ", ")))
	}
	example := groups[0].place
	if example == "" {
		example = "Okhla"
	}
	b.WriteString("\n" + h.catalog().Get(h.lang, "dispatch_how", "area", placeWord(example)))
	return h.send(Outgoing{Text: b.String()})
}

// showBatch shows the sender the cards they now hold for delivery, with
// everything needed at each door.
func (h *handling) showBatch(batch []*store.Card) error {
	c := h.catalog()
	kits := 0
	places := []string{}
	for _, card := range batch {
		kits += kitsOf(card)
		if p := h.placeName(card.Fields[reservedAtField]); !slices.Contains(places, p) {
			places = append(places, p)
		}
	}
	var b strings.Builder
	b.WriteString(c.Get(h.lang, "dispatch_batch", "n", len(batch), "kits", kits, "places", strings.Join(places, ", "),
		"until", h.when(batch[0].LeaseUntil)))
	for _, card := range batch {
		line := c.Get(h.lang, "dispatch_line", "card", card.ID, "kits", kitsOf(card), "name", card.Fields["name"],
			"phone", card.Fields["phone"], "address", card.Fields["address"])
		if s := strings.TrimSpace(card.Fields["special"]); s != "" {
			line += " · " + s
		}
		b.WriteString("\n" + line)
	}
	b.WriteString("\n" + c.Get(h.lang, "dispatch_batch_how", "card", batch[len(batch)-1].ID))
	return h.send(Outgoing{Text: b.String()})
}

// cmdPicked says the kits of the sender's dispatch cards (all of them, or
// those named) are with them: each card answers its stage as "picked up",
// so its requester hears who is bringing the kits, and it moves on to
// delivery still held by the sender, who needs no new offer to accept.
func (h *handling) cmdPicked(args string) error {
	held, err := h.tx.HeldCards(h.who.ID)
	if err != nil {
		return err
	}
	dispatch := h.r.dispatchStages()
	var mine []*store.Card
	for _, c := range held {
		if slices.Contains(dispatch, store.StageRef{Flow: c.Flow, Stage: c.Stage}) {
			mine = append(mine, c)
		}
	}
	var want []string
	for _, w := range strings.Fields(strings.ReplaceAll(args, ",", " ")) {
		if id := parseCardID(w); id != "" {
			want = append(want, id)
		}
	}
	if len(want) > 0 {
		mine = slices.DeleteFunc(mine, func(c *store.Card) bool { return !slices.Contains(want, c.ID) })
	}
	if len(mine) == 0 {
		return h.say("picked_none")
	}
	var done []string
	var until time.Time
	for _, card := range mine {
		ok, err := h.pickUp(card)
		if err != nil {
			return fmt.Errorf("%s: %w", card.ID, err)
		}
		if !ok {
			if err := h.say("picked_not_here", "card", card.ID); err != nil {
				return err
			}
			continue
		}
		done = append(done, card.ID)
		until = card.LeaseUntil
	}
	if len(done) == 0 {
		return nil
	}
	return h.say("picked_done", "cards", strings.Join(done, ", "), "until", h.when(until), "card", done[0])
}

// pickedChoice is the answer of a dispatch stage that means "the kits are
// with me".
const pickedChoice = "picked_up"

// pickUp answers card's stage with "picked up" for the sender, carrying out
// what the flow says (telling the requester, naming the courier) and moving
// it on while the sender keeps it. It reports false when the stage cannot
// be answered that way.
func (h *handling) pickUp(card *store.Card) (bool, error) {
	sess, _, err := flows.StartStage(h.r.flows, engineCard(card), flows.Known{}, h.now)
	if err != nil || !sess.Active() {
		return false, nil
	}
	ec, after, effs := flows.Step(h.r.flows, engineCard(card), sess, flows.Input{Choice: pickedChoice}, flows.Known{}, h.now)
	if after.Active() {
		return false, nil // the choice was refused, or more questions follow
	}
	card.Fields = ec.Fields
	if h.st.Card == card.ID {
		h.st = state{Session: flows.Session{Version: h.st.Version}}
	}
	return true, h.applyKeeping(effs, card)
}

// applyKeeping carries out a stage's effects like apply, except that a
// move keeps the card with its holder (under the new stage's lease), so
// nobody else is offered it.
func (h *handling) applyKeeping(effs []flows.Effect, card *store.Card) error {
	for _, e := range effs {
		var err error
		switch e := e.(type) {
		case flows.Do:
			err = h.do(e.Action, card)
		case flows.Tell:
			err = h.tellRequester(card, e.Text)
		case flows.Notify:
			err = h.notifyRole(e.Role, card)
		case flows.Move:
			err = h.moveKeeping(card, e.To, "picked up; on the way")
		}
		if err != nil {
			return err
		}
	}
	card.Updated = h.now
	return h.tx.SaveCard(card)
}

// moveKeeping puts card into stage to and leaves it with the sender when
// they hold it and the stage is worked by people.
func (h *handling) moveKeeping(card *store.Card, to, why string) error {
	f := h.r.flows.Flow(card.Flow)
	st := f.Stage(to)
	if st == nil {
		return fmt.Errorf("card %s: no stage %q", card.ID, to)
	}
	from := card.Stage
	card.Stage, card.StageEntered, card.Open, card.Updated = to, h.now, !st.Final, h.now
	if isQueue(st) && h.who != nil && card.Assignee == h.who.ID {
		card.LeaseUntil = h.now.Add(leaseOf(st))
	} else {
		card.Assignee, card.LeaseUntil = 0, time.Time{}
	}
	if err := h.tx.SaveCard(card); err != nil {
		return err
	}
	return errors.Join(h.event(card, from, to, why), h.cardEntered(card, from))
}

// plainReply answers, outside any conversation, the two questions whose
// answer people type without a command: "1"/"2" (or yes/no, received) to
// "did the kits reach you?", and "blur 1 4 5" from an outreach volunteer.
// It reports false when text is neither, and routing goes on.
func (h *handling) plainReply(text string) (bool, error) {
	if rest, ok := strings.CutPrefix(strings.ToLower(text), "blur"); ok && h.who.Has(RoleOutreach) && (rest == "" || rest[0] == ' ') {
		return true, h.cmdBlur(strings.TrimSpace(rest))
	}
	got, isAnswer := receiptWords[strings.ToLower(strings.Trim(text, " .!"))]
	if !isAnswer {
		return false, nil
	}
	asks, err := h.tx.ReceiptAsks(h.who.ID, h.now.Add(-receiptQuestionOpen))
	if err != nil || len(asks) == 0 {
		return false, err
	}
	return true, h.answerReceipt("", got)
}

// receiptWords answer "did the kits reach you?".
var receiptWords = map[string]bool{
	"1": true, "received": true, "yes": true, "haan": true, "han": true, "हाँ": true, "हां": true, "मिल गया": true, "मिल गई": true, "मिल गईं": true, "mil gaya": true,
	"2": false, "not received": false, "no": false, "nahi": false, "nahin": false, "नहीं": false, "नहीं मिला": false, "नहीं मिली": false,
}

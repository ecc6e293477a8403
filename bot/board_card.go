package bot

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"sewa/flows"
	"sewa/store"
)

// piiFields are shown only to coordinators and the card's holder.
var piiFields = []string{"name", "phone", "address", "donor_name", "donor_phone", "receipt_name", "receipt_address", "pan", "counterparty", "list_photo", "proof",
	"sms", "past_donations", "donor_email", "receipt_file"}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// loadCard reads the card named by the first word of args; when there is
// none it has already told the sender and returns nil.
func (h *handling) loadCard(args, usage string) (*store.Card, string, error) {
	word, rest, _ := strings.Cut(strings.TrimSpace(args), " ")
	rest = strings.TrimSpace(rest)
	id := parseCardID(word)
	if id == "" {
		return nil, rest, h.say(usage)
	}
	card, err := h.tx.Card(id)
	if isNotFound(err) {
		return nil, rest, h.say("card_not_found", "card", id)
	}
	return card, rest, err
}

// cmdCard shows one card: every field (names, phones and places only to
// coordinators and its holder), its stage, holder and history.
func (h *handling) cmdCard(args string) error {
	card, _, err := h.loadCard(args, "card_usage")
	if card == nil || err != nil {
		return err
	}
	events, err := h.tx.Events(card.ID)
	if err != nil {
		return err
	}
	pii := h.who.Has(RoleCoordinator) || (card.Assignee != 0 && card.Assignee == h.who.ID)
	text, err := h.renderCard(card, events, pii)
	if err != nil {
		return err
	}
	return h.send(Outgoing{Text: text})
}

func (h *handling) renderCard(card *store.Card, events []store.Event, pii bool) (string, error) {
	c, lang := h.catalog(), h.lang
	var b strings.Builder
	f := h.r.flows.Flow(card.Flow)
	title := card.Flow
	var st *flows.Stage
	if f != nil {
		title = f.Title.In(lang)
		st = f.Stage(card.Stage)
	}
	fmt.Fprintf(&b, "%s · %s\n%s: %s (%s), %s %s", card.ID, title, c.Get(lang, "card_stage"), h.stageTitle(card, lang), card.Stage,
		c.Get(lang, "card_since"), h.when(card.StageEntered))
	age := h.now.Sub(card.StageEntered)
	if age >= time.Minute {
		b.WriteString(" (" + shortAge(age) + ")")
	}
	switch {
	case !card.Open && (st == nil || !st.Final):
		b.WriteString(", " + c.Get(lang, "card_closed"))
	case card.Open && st != nil && st.StaleAfter > 0 && age > time.Duration(st.StaleAfter):
		b.WriteString(", " + c.Get(lang, "card_stale", "after", shortAge(time.Duration(st.StaleAfter))))
	}
	if card.Open && card.Assignee == 0 && st != nil && st.Role != flows.RoleSystem && !st.Final {
		b.WriteString(", " + c.Get(lang, "card_unassigned"))
	}
	if card.Assignee != 0 {
		k, err := h.tx.ContactByID(card.Assignee)
		if err != nil && !isNotFound(err) {
			return "", err
		}
		if k != nil {
			who := personName(k)
			if pii {
				who += " (" + k.Key() + ")"
			}
			fmt.Fprintf(&b, "\n%s: %s", c.Get(lang, "card_holder"), who)
			if !card.LeaseUntil.IsZero() {
				fmt.Fprintf(&b, ", %s %s", c.Get(lang, "card_until"), h.when(card.LeaseUntil))
			}
		}
	}
	keys := make([]string, 0, len(card.Fields))
	for k := range card.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := card.Fields[k]
		if v == "" {
			continue
		}
		if !pii && slices.Contains(piiFields, k) {
			v = "•••"
		}
		fmt.Fprintf(&b, "\n  %s: %s", k, v)
	}
	requester := ""
	if card.Requester != 0 && !pii {
		if k, err := h.tx.ContactByID(card.Requester); err == nil {
			requester = k.Key()
		} else if !isNotFound(err) {
			return "", err
		}
	}
	b.WriteString("\n" + c.Get(lang, "card_history"))
	for _, e := range events {
		actor := e.Actor
		if !pii {
			actor = h.maskActor(actor, requester, lang)
		}
		line := fmt.Sprintf("\n  %s %s", h.when(e.At), actor)
		switch {
		case e.From == "" && e.To != "":
			line += ": → " + e.To
		case e.From != e.To:
			line += ": " + e.From + " → " + e.To
		}
		if e.What != "" {
			if e.From == e.To {
				line += ":"
			} else {
				line += " ·"
			}
			line += " " + e.What
		}
		b.WriteString(line)
	}
	return b.String(), nil
}

// maskActor shows a volunteer who cannot see the card's personal details
// who acted without the requester's name or anyone's chat address:
// "tg:123 Asha Devi" becomes "Asha Devi", or "requester" for the person who
// asked.
func (h *handling) maskActor(actor, requesterKey, lang string) string {
	key, name, ok := strings.Cut(actor, " ")
	if !ok {
		return actor // "system"
	}
	if requesterKey != "" && key == requesterKey {
		return h.catalog().Get(lang, "card_requester")
	}
	return name
}

// stageArg finds a stage of f by id or title, as typed.
func stageArg(f *flows.Flow, arg string) *flows.Stage {
	a := strings.ToLower(strings.TrimSpace(arg))
	if a == "" {
		return nil
	}
	if st := f.Stage(a); st != nil {
		return st
	}
	for _, st := range f.Stages {
		for _, t := range st.Title {
			if strings.EqualFold(t, a) {
				return st
			}
		}
	}
	return nil
}

// cmdMove puts a card into another stage of its flow, by hand, and runs
// what entering that stage runs (reserving stock, for example).
func (h *handling) cmdMove(args string) error {
	card, rest, err := h.loadCard(args, "move_usage")
	if card == nil || err != nil {
		return err
	}
	f := h.r.flows.Flow(card.Flow)
	if f == nil {
		return fmt.Errorf("move %s: %w %q", card.ID, errNoFlow, card.Flow)
	}
	st := stageArg(f, rest)
	if st == nil {
		key := "move_which"
		if rest != "" {
			key = "move_no_stage"
		}
		return h.say(key, "card", card.ID, "stage", rest, "flow", f.Title.In(h.lang), "stages", strings.Join(f.StageNames(), ", "))
	}
	if st.ID == card.Stage && card.Open {
		return h.say("move_same", "card", card.ID, "stage", st.ID)
	}
	from := card.Stage
	if err := h.releaseHolder(card); err != nil {
		return err
	}
	if err := h.move(card, st.ID, "by hand"); err != nil {
		return err
	}
	if err := h.say("move_done", "card", card.ID, "from", from, "to", st.ID); err != nil {
		return err
	}
	for _, a := range st.OnEnter {
		if err := h.do(a, card); err != nil {
			return err
		}
	}
	card.Updated = h.now
	return h.tx.SaveCard(card)
}

// releaseHolder frees whoever holds card: their conversation about it ends
// (bot/work.go's dropWork) and they are told, so an answer they give later
// cannot move it again.
func (h *handling) releaseHolder(card *store.Card) error {
	if card.Assignee == 0 {
		return nil
	}
	holder := card.Assignee
	card.Assignee, card.LeaseUntil = 0, time.Time{}
	k, err := h.tx.ContactByID(holder)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := h.dropWork(k, card.ID); err != nil {
		return err
	}
	if k.ID == h.who.ID {
		return nil
	}
	return h.tell(k, "card_taken_back", "card", card.ID)
}

// cmdNote adds a line to a card's history.
func (h *handling) cmdNote(args string) error {
	card, text, err := h.loadCard(args, "note_usage")
	if card == nil || err != nil {
		return err
	}
	if text == "" {
		return h.say("note_usage")
	}
	if err := h.event(card, card.Stage, card.Stage, "note: "+clip(text, 500)); err != nil {
		return err
	}
	return h.say("note_done", "card", card.ID)
}

// cmdClose takes a card off the board with a reason; the person who asked
// is told. /move to a working stage opens it again.
func (h *handling) cmdClose(args string) error {
	card, reason, err := h.loadCard(args, "close_usage")
	if card == nil || err != nil {
		return err
	}
	if reason == "" {
		return h.say("close_usage")
	}
	if !card.Open {
		return h.say("close_already", "card", card.ID)
	}
	if err := h.releaseHolder(card); err != nil {
		return err
	}
	if err := h.withdrawOffers(card, 0); err != nil {
		return err
	}
	card.Open = false
	card.Updated = h.now
	if err := h.tx.SaveCard(card); err != nil {
		return err
	}
	reason = clip(reason, 300)
	if err := h.event(card, card.Stage, card.Stage, "closed: "+reason); err != nil {
		return err
	}
	told := false
	if card.Requester != 0 && card.Requester != h.who.ID {
		k, err := h.tx.ContactByID(card.Requester)
		if err != nil && !isNotFound(err) {
			return err
		}
		if k != nil && k.Blocked.IsZero() {
			if err := h.sendTo(k, Outgoing{Text: h.catalog().Get(langOf(k, h.r.lang), "card_closed_told", "card", card.ID, "reason", reason)}); err != nil {
				return err
			}
			told = true
		}
	}
	if told {
		return h.say("close_done_told", "card", card.ID)
	}
	return h.say("close_done", "card", card.ID)
}

// findLimit is how many cards /find lists.
const findLimit = 10

// cmdFind searches cards by name, phone, reference or place.
func (h *handling) cmdFind(args string) error {
	q := strings.TrimSpace(args)
	if q == "" {
		return h.say("find_usage")
	}
	var cards []*store.Card
	if id := parseCardID(q); id != "" {
		card, err := h.tx.Card(id)
		if err != nil && !isNotFound(err) {
			return err
		}
		if card != nil {
			cards = append(cards, card)
		}
	}
	if len(cards) == 0 {
		if p, ok := flows.IndianMobile(q); ok {
			q = p
		}
		if len([]rune(q)) < 3 {
			return h.say("find_short")
		}
		var err error
		if cards, err = h.tx.FindCards(q, findLimit+1); err != nil {
			return err
		}
	}
	if len(cards) == 0 {
		return h.say("find_none", "text", q)
	}
	var b strings.Builder
	b.WriteString(h.catalog().Get(h.lang, "find_title", "text", q))
	for _, card := range cards[:min(len(cards), findLimit)] {
		b.WriteString("\n" + h.findLine(card))
	}
	if len(cards) > findLimit {
		b.WriteString("\n" + h.catalog().Get(h.lang, "find_more", "n", findLimit))
	}
	return h.send(Outgoing{Text: b.String()})
}

// findLine is one card in a list: id, stage, who and where.
func (h *handling) findLine(card *store.Card) string {
	parts := []string{card.ID, card.Stage}
	if !card.Open {
		if f := h.r.flows.Flow(card.Flow); f == nil || f.Stage(card.Stage) == nil || !f.Stage(card.Stage).Final {
			parts[1] += " (" + h.catalog().Get(h.lang, "card_closed") + ")"
		}
	}
	for _, group := range [][]string{{"name", "donor_name", "receipt_name", "counterparty"}, {"phone", "donor_phone"},
		{"ref"}, {"address", "area"}} {
		for _, k := range group {
			if v := strings.TrimSpace(card.Fields[k]); v != "" {
				parts = append(parts, clip(v, 32))
				break
			}
		}
	}
	return strings.Join(parts, " · ")
}

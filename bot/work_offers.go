package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"sewa/flows"
	"sewa/store"
)

// Push: when a card enters a stage worked by people, it is offered to the
// least-loaded active volunteer with the stage's role, who accepts or
// passes; no answer within the offer window, and the next one is asked.
// Stages worked by coordinators are announced to all of them instead.

// cardEntered is called whenever card has entered its current stage (from
// is the stage it left, "" for a new card): it thanks the volunteer who
// finished the last stage, ends offers of the last stage and offers or
// announces the new one.
func (h *handling) cardEntered(card *store.Card, from string) error {
	if card == nil || card.ID == "" {
		return nil
	}
	finisher := h.finished(card, from)
	if finisher {
		if err := h.say("work_done", "card", card.ID, "stage", h.stageTitle(card, h.lang)); err != nil {
			return err
		}
	}
	if from != "" {
		if err := h.withdrawOffers(card, 0); err != nil {
			return err
		}
		if err := h.welcomeIfApproved(card, from); err != nil {
			return err
		}
	}
	_, st := h.queueOf(card)
	if st == nil {
		return nil
	}
	if st.Role == RoleCoordinator {
		return h.announce(card, st)
	}
	var prefer int64
	var exclude []int64
	if finisher && from != card.Stage {
		// Who picked the kits up is the natural one to deliver them.
		prefer = h.who.ID
	} else if finisher {
		// Back in the same stage (could not reach): someone else, please.
		exclude = append(exclude, h.who.ID)
	}
	_, err := h.offerNext(card, st, prefer, exclude...)
	return err
}

// finished reports whether the card left stage from because the sender
// answered that stage's last question: they worked it, and are thanked.
// A command (/approve, /move) is not working a stage.
func (h *handling) finished(card *store.Card, from string) bool {
	if h.who == nil || from == "" || strings.HasPrefix(strings.TrimSpace(h.msg.Text), "/") {
		return false
	}
	f := h.r.flows.Flow(card.Flow)
	return f != nil && mayWork(h.who, f.Stage(from))
}

// offerNext offers card, waiting in stage st, to the volunteer who should
// get it: prefer if they may and have room, else the least loaded (then
// the longest not offered anything) among those with the role who are not
// paused, have not blocked the bot, did not ask for the card, have room and
// were not offered it since it entered the stage. It reports whether
// someone was offered it; when nobody is left the card waits in its queue
// for /next.
func (h *handling) offerNext(card *store.Card, st *flows.Stage, prefer int64, exclude ...int64) (bool, error) {
	if !card.Open || card.Assignee != 0 && card.LeaseUntil.After(h.now) {
		return false, nil
	}
	if _, err := h.tx.OpenOfferOn(card.ID); err == nil || !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	offered, err := h.tx.OfferedInRound(card.ID, card.StageEntered)
	if err != nil {
		return false, err
	}
	workers, err := h.tx.Workers([]string{st.Role})
	if err != nil {
		return false, err
	}
	var best *store.Worker
	for i := range workers {
		w := &workers[i]
		c := w.Contact
		if !c.Blocked.IsZero() || !w.Paused.IsZero() || c.ID == card.Requester || !c.Has(st.Role) ||
			slices.Contains(offered, c.ID) || slices.Contains(exclude, c.ID) || w.Load() >= h.r.capacity() {
			continue
		}
		if c.ID == prefer {
			best = w
			break
		}
		if best == nil || lessLoaded(w, best) {
			best = w
		}
	}
	if best == nil {
		return false, nil
	}
	o := &store.Offer{Card: card.ID, Stage: card.Stage, StageEntered: card.StageEntered, To: best.Contact.ID,
		At: h.now, Until: h.now.Add(h.r.offerWindow())}
	ok, err := h.tx.AddOffer(o)
	if err != nil || !ok {
		return false, err
	}
	return true, h.sendOffer(best.Contact, card, o)
}

func lessLoaded(a, b *store.Worker) bool {
	if a.Load() != b.Load() {
		return a.Load() < b.Load()
	}
	if !a.LastOffer.Equal(b.LastOffer) {
		return a.LastOffer.Before(b.LastOffer)
	}
	return a.Contact.ID < b.Contact.ID
}

// sendOffer tells c about the card offered to them: what it is, without
// phone numbers or addresses (they do not hold it yet), and how to answer.
func (h *handling) sendOffer(c *store.Contact, card *store.Card, o *store.Offer) error {
	lang := langOf(c, h.r.lang)
	f := h.r.flows.Flow(card.Flow)
	text := h.catalog().Get(lang, "work_offer", "card", card.ID, "stage", h.stageTitle(card, lang)) +
		cardFields(f, card, false) + "\n" +
		h.catalog().Get(lang, "work_offer_answer", "card", card.ID, "until", h.when(o.Until))
	out := Outgoing{Text: text}
	if ch, ok := h.r.channels[c.Channel]; ok && ch.Caps().Buttons {
		// Where a press is possible it answers the offer; elsewhere a typed
		// "1" would be ambiguous with the menu, so /accept and /pass it is.
		out.Choices = []Choice{
			{Data: offerPress + "accept:" + card.ID, Label: h.catalog().Get(lang, "work_accept_button")},
			{Data: offerPress + "pass:" + card.ID, Label: h.catalog().Get(lang, "work_pass_button")},
		}
	}
	return h.sendTo(c, out)
}

// offerPress starts the data of an offer's buttons: "offer:accept:R-7".
// An offer checks itself against the card, so it needs no session version.
const offerPress = "offer:"

// pressOffer answers an offer's button.
func (h *handling) pressOffer(data string) error {
	verb, id, _ := strings.Cut(strings.TrimPrefix(data, offerPress), ":")
	if verb == "pass" {
		return h.cmdPass(id)
	}
	return h.cmdAccept(id)
}

// withdrawOffers ends the open offers of card and tells whoever was
// offered it: keep took it (then the others are told someone else did), or
// keep is 0 and the card moved on or was closed.
func (h *handling) withdrawOffers(card *store.Card, keep int64) error {
	why := "work_offer_gone"
	if keep == 0 {
		why = "work_offer_moved"
	}
	gone, err := h.tx.WithdrawOffers(card.ID, h.now)
	if err != nil {
		return err
	}
	for _, o := range gone {
		if o.To == keep {
			if _, err := h.tx.CloseOffer(o.ID, store.OfferAccepted, h.now); err != nil {
				return err
			}
			continue
		}
		c, err := h.tx.ContactByID(o.To)
		if err != nil {
			return err
		}
		if err := h.tell(c, why, "card", card.ID); err != nil {
			return err
		}
	}
	return nil
}

// offerFor finds the sender's open offer of id, or their only (else oldest)
// one when id is empty.
func (h *handling) offerFor(id string) (*store.Offer, error) {
	offers, err := h.tx.OpenOffersTo(h.who.ID)
	if err != nil {
		return nil, err
	}
	for i := range offers {
		if id == "" || offers[i].Card == id {
			return &offers[i], nil
		}
	}
	return nil, nil
}

// cmdAccept takes a card offered to the sender. An offer that ran out can
// still be accepted while the card waits and nobody else holds it.
func (h *handling) cmdAccept(args string) error {
	id, _ := cardArg(args)
	o, err := h.offerFor(id)
	if err != nil {
		return err
	}
	if o == nil && id == "" {
		return h.say("work_no_offer")
	}
	if o != nil {
		id = o.Card
	}
	card, err := h.tx.Card(id)
	if errors.Is(err, store.ErrNotFound) {
		return h.say("work_no_card", "card", id)
	}
	if err != nil {
		return err
	}
	if o != nil && (card.Stage != o.Stage || !card.StageEntered.Equal(o.StageEntered)) {
		// The card moved on since; the offer is stale.
		if _, err := h.tx.CloseOffer(o.ID, store.OfferWithdrawn, h.now); err != nil {
			return err
		}
		return h.say("work_offer_moved", "card", card.ID)
	}
	return h.takeCard(card, "offer accepted; taken")
}

// cmdPass declines a card offered to the sender; it goes to the next
// volunteer at once.
func (h *handling) cmdPass(args string) error {
	id, _ := cardArg(args)
	o, err := h.offerFor(id)
	if err != nil {
		return err
	}
	if o == nil {
		return h.say("work_no_offer")
	}
	ok, err := h.tx.CloseOffer(o.ID, store.OfferPassed, h.now)
	if err != nil || !ok {
		return err
	}
	if err := h.say("work_passed", "card", o.Card); err != nil {
		return err
	}
	card, err := h.tx.Card(o.Card)
	if err != nil {
		return err
	}
	return h.offerAgain(card, o)
}

// offerAgain offers the card of a closed offer to the next volunteer, if
// the card still waits where it was offered.
func (h *handling) offerAgain(card *store.Card, o *store.Offer) error {
	if card.Stage != o.Stage || !card.StageEntered.Equal(o.StageEntered) {
		return nil
	}
	return h.reoffer(card, o.To)
}

// expireOffers ends the offers nobody answered in time, telling each
// volunteer and offering the card to the next; then it offers the cards
// still waiting unoffered (someone resumed, was approved, or has room
// again).
func (r *Runtime) expireOffers(ctx context.Context, now time.Time) error {
	return r.asSystem(ctx, now, func(h *handling) error {
		due, err := h.tx.DueOffers(now, jobBatch)
		if err != nil {
			return err
		}
		for _, o := range due {
			if err := h.expireOffer(o); err != nil {
				return fmt.Errorf("offer of %s: %w", o.Card, err)
			}
		}
		return h.offerWaiting()
	})
}

func (h *handling) expireOffer(o store.Offer) error {
	ok, err := h.tx.CloseOffer(o.ID, store.OfferExpired, h.now)
	if err != nil || !ok {
		return err
	}
	c, err := h.tx.ContactByID(o.To)
	if err != nil {
		return err
	}
	if err := h.tell(c, "work_offer_expired", "card", o.Card); err != nil {
		return err
	}
	card, err := h.tx.Card(o.Card)
	if err != nil {
		return err
	}
	return h.offerAgain(card, &o)
}

// offerWaiting offers waiting cards that nobody holds or is being offered,
// oldest first, a bounded number per stage and run.
func (h *handling) offerWaiting() error {
	budget := jobBatch
	for _, f := range h.r.flows.Flows {
		for _, st := range f.Stages {
			if !isQueue(st) || st.Role == RoleCoordinator || budget <= 0 {
				continue
			}
			// A card everyone has had in this round stays unoffered and is
			// looked at again each run; the bound keeps that cheap.
			cards, err := h.tx.WaitingUnoffered(store.StageRef{Flow: f.ID, Stage: st.ID}, h.now, min(budget, 20))
			if err != nil {
				return err
			}
			for _, card := range cards {
				budget--
				if _, err := h.offerNext(card, st, 0); err != nil {
					return fmt.Errorf("%s: %w", card.ID, err)
				}
			}
		}
	}
	return nil
}

// announce tells every coordinator about a card that waits for them, with
// all its fields and what to send. A volunteer application gets the two
// commands that decide it.
func (h *handling) announce(card *store.Card, st *flows.Stage) error {
	people, err := h.tx.ContactsWithRole(RoleCoordinator)
	if err != nil {
		return err
	}
	f := h.r.flows.Flow(card.Flow)
	for _, p := range people {
		lang := langOf(p, h.r.lang)
		var text string
		if isApplication(st) {
			text = h.catalog().Get(lang, "volunteer_new", "card", card.ID, "name", card.Fields["name"]) +
				cardFields(f, card, true) + "\n" +
				h.catalog().Get(lang, "volunteer_new_how", "card", card.ID, "roles", suggestRoles(card))
		} else {
			text = h.catalog().Get(lang, "work_coordinators", "card", card.ID, "stage", st.Title.In(lang)) +
				cardFields(f, card, true) + "\n" +
				h.catalog().Get(lang, "work_coordinators_how", "card", card.ID)
		}
		if err := h.sendTo(p, Outgoing{Text: text}); err != nil {
			return err
		}
	}
	return nil
}

// suggestRoles reads the roles an applicant offered from their answers,
// for the coordinator's /approve line.
func suggestRoles(card *store.Card) string {
	roles := ParseRoles(card.Fields["skills"])
	roles = slices.DeleteFunc(roles, func(r string) bool { return r == RoleCoordinator })
	if len(roles) == 0 {
		return RoleCaller
	}
	return strings.Join(roles, " ")
}

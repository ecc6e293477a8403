package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"sewa/flows"
	"sewa/store"
)

// Pull: /next, /take, /tasks, /release, and leases that run out.

// paused tells a paused sender so and reports whether they are.
func (h *handling) paused() (bool, error) {
	at, _, err := h.tx.PausedSince(h.who.ID)
	if err != nil || at.IsZero() {
		return false, err
	}
	return true, h.say("work_paused")
}

// busy tells a sender who is in the middle of a conversation what to do
// first, and reports whether they are.
func (h *handling) busy() (bool, error) {
	switch {
	case !h.st.Active():
		return false, nil
	case h.st.Card != "":
		return true, h.say("work_busy", "card", h.st.Card)
	default:
		return true, h.say("work_finish_form")
	}
}

// cmdNext gives the sender the card they should work on now: one they
// already hold, or else the first waiting card of a queue they may work.
func (h *handling) cmdNext(string) error {
	if p, err := h.paused(); p || err != nil {
		return err
	}
	if b, err := h.busy(); b || err != nil {
		return err
	}
	held, err := h.tx.HeldCards(h.who.ID)
	if err != nil {
		return err
	}
	if len(held) > 0 {
		return h.takeCard(held[0], "")
	}
	stages := h.r.workStages(h.who)
	// Another process may claim the card between the read and the claim;
	// then the next one is tried.
	for range 5 {
		card, err := h.tx.NextFree(stages, h.who.ID, h.now)
		if errors.Is(err, store.ErrNotFound) {
			break
		}
		if err != nil {
			return err
		}
		ok, err := h.claim(card, "taken")
		if err != nil {
			return err
		}
		if ok {
			return h.beginWork(card)
		}
	}
	return h.say("work_none")
}

// cmdTake takes one named card from its queue, or goes back to one the
// sender holds.
func (h *handling) cmdTake(args string) error {
	id, _ := cardArg(args)
	if id == "" {
		return h.say("work_take_usage")
	}
	card, err := h.tx.Card(id)
	if errors.Is(err, store.ErrNotFound) {
		return h.say("work_no_card", "card", id)
	}
	if err != nil {
		return err
	}
	return h.takeCard(card, "taken")
}

// mayTake tells the sender why they cannot take card, and reports whether
// they can. Nothing of the card beyond its stage is told to someone who may
// not work it.
func (h *handling) mayTake(card *store.Card, st *flows.Stage) (bool, error) {
	if st == nil {
		return false, h.say("work_not_queued", "card", card.ID, "stage", h.stageTitle(card, h.lang))
	}
	if !mayWork(h.who, st) {
		return false, h.say("work_not_your_role", "card", card.ID, "stage", h.stageTitle(card, h.lang),
			"who", h.rolesText([]string{st.Role}))
	}
	if card.Requester == h.who.ID && !h.who.Has(RoleCoordinator) {
		return false, h.say("work_own_card", "card", card.ID)
	}
	if card.Assignee != 0 && card.Assignee != h.who.ID && card.LeaseUntil.After(h.now) {
		return false, h.say("work_held", "card", card.ID, "until", h.when(card.LeaseUntil))
	}
	return true, nil
}

// takeCard claims card for the sender (why goes into its history) and
// begins the work; for a card they hold already it renews the lease and
// shows it again.
func (h *handling) takeCard(card *store.Card, why string) error {
	_, st := h.queueOf(card)
	if ok, err := h.mayTake(card, st); !ok || err != nil {
		return err
	}
	if p, err := h.paused(); p || err != nil {
		return err
	}
	mine := card.Assignee == h.who.ID
	if h.st.Active() && h.st.Card != card.ID {
		if h.st.Card == "" {
			return h.say("work_finish_form")
		}
		if mine {
			return h.say("work_busy", "card", h.st.Card)
		}
	}
	if !mine {
		held, err := h.tx.HeldCards(h.who.ID)
		if err != nil {
			return err
		}
		if len(held) >= h.r.capacity() && !h.who.Has(RoleCoordinator) {
			return h.say("work_full", "count", len(held), "cards", cardIDs(held))
		}
	}
	if mine {
		why = ""
	}
	ok, err := h.claim(card, why)
	if err != nil || !ok {
		if err == nil {
			err = h.say("work_held", "card", card.ID, "until", h.when(card.LeaseUntil))
		}
		return err
	}
	if h.st.Active() && h.st.Card != card.ID {
		// Held now, worked on once the current task is done.
		return h.say("work_later", "card", card.ID, "current", h.st.Card, "until", h.when(card.LeaseUntil))
	}
	return h.beginWork(card)
}

func cardIDs(cards []*store.Card) string {
	ids := make([]string, len(cards))
	for i, c := range cards {
		ids[i] = c.ID
	}
	return strings.Join(ids, ", ")
}

// claim takes (or renews) the lease on card for the sender with one
// conditional update, records why in its history (nothing for a renewal)
// and ends any offer of it to others. It reports false when someone else
// holds it.
func (h *handling) claim(card *store.Card, why string) (bool, error) {
	_, st := h.queueOf(card)
	until := h.now.Add(leaseOf(st))
	ok, err := h.tx.ClaimCard(card.ID, card.Stage, h.who.ID, h.now, until)
	if err != nil || !ok {
		return false, err
	}
	card.Assignee, card.LeaseUntil = h.who.ID, until
	if why != "" {
		if err := h.event(card, card.Stage, card.Stage, why+" until "+h.when(until)); err != nil {
			return false, err
		}
	}
	return true, h.withdrawOffers(card, h.who.ID)
}

// beginWork shows the sender the card they now hold (its fields, history
// and the stage's guide) and starts the stage's questions.
func (h *handling) beginWork(card *store.Card) error {
	view, err := h.taskView(card)
	if err != nil {
		return err
	}
	if err := h.send(Outgoing{Text: view}); err != nil {
		return err
	}
	sess, effs, err := flows.StartStage(h.r.flows, engineCard(card), flows.Known{}, h.now)
	if err != nil {
		return err
	}
	return h.begin(sess, effs, card)
}

// taskView is everything a volunteer needs for one stage of one card: the
// card's fields (all of them: they hold it), its history one line per event,
// and what to do.
func (h *handling) taskView(card *store.Card) (string, error) {
	f, st := h.queueOf(card)
	events, err := h.tx.Events(card.ID)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	title := card.Flow
	if f != nil {
		title = f.Title.In(h.lang)
	}
	fmt.Fprintf(&b, "%s · %s · %s", card.ID, title, h.stageTitle(card, h.lang))
	if card.Assignee == h.who.ID && !card.LeaseUntil.IsZero() {
		b.WriteString("\n" + h.catalog().Get(h.lang, "work_yours_until", "until", h.when(card.LeaseUntil)))
	}
	b.WriteString(cardFields(f, card, true))
	b.WriteString("\n" + h.catalog().Get(h.lang, "work_history"))
	for _, e := range events {
		b.WriteString("\n  " + h.eventLine(e))
	}
	if st != nil {
		if g := strings.TrimSpace(st.Guide.In(h.lang)); g != "" {
			b.WriteString("\n" + h.catalog().Get(h.lang, "work_guide") + "\n" + g)
		}
	}
	return b.String(), nil
}

// eventLine is one line of history: when, who, the move, what.
func (h *handling) eventLine(e store.Event) string {
	who := e.Actor
	if _, name, ok := strings.Cut(e.Actor, " "); ok && name != "" {
		who = name
	}
	line := h.when(e.At) + " " + who
	switch {
	case e.From == "" && e.To != "":
		line += ": → " + e.To
	case e.From != e.To || e.What == "":
		line += ": " + e.From + " → " + e.To // back to the same stage
	}
	if e.What != "" {
		line += " · " + e.What
	}
	return line
}

// cmdTasks lists what the sender holds and what is offered to them.
func (h *handling) cmdTasks(string) error {
	held, err := h.tx.HeldCards(h.who.ID)
	if err != nil {
		return err
	}
	offers, err := h.tx.OpenOffersTo(h.who.ID)
	if err != nil {
		return err
	}
	if len(held) == 0 && len(offers) == 0 {
		if p, err := h.paused(); p || err != nil {
			return err
		}
		return h.say("work_tasks_none")
	}
	var b strings.Builder
	b.WriteString(h.catalog().Get(h.lang, "work_tasks_title"))
	for _, c := range held {
		fmt.Fprintf(&b, "\n%s · %s · %s", c.ID, h.stageTitle(c, h.lang), h.catalog().Get(h.lang, "work_until", "until", h.when(c.LeaseUntil)))
		if h.st.Card == c.ID {
			b.WriteString(" · " + h.catalog().Get(h.lang, "work_now"))
		}
	}
	for _, o := range offers {
		c, err := h.tx.Card(o.Card)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "\n%s · %s · %s", c.ID, h.stageTitle(c, h.lang), h.catalog().Get(h.lang, "work_offered_until", "card", c.ID, "until", h.when(o.Until)))
	}
	if len(held) > 0 {
		b.WriteString("\n" + h.catalog().Get(h.lang, "work_tasks_hint", "card", held[0].ID))
	}
	return h.send(Outgoing{Text: b.String()})
}

// cmdRelease puts a card the sender holds back in its queue; a coordinator
// may release anyone's. Without an id it is the card being worked on.
func (h *handling) cmdRelease(args string) error {
	id, reason := cardArg(args)
	if id == "" && h.st.Card != "" {
		id = h.st.Card
	}
	if id == "" {
		return h.say("work_release_usage")
	}
	card, err := h.tx.Card(id)
	if errors.Is(err, store.ErrNotFound) {
		return h.say("work_no_card", "card", id)
	}
	if err != nil {
		return err
	}
	if card.Assignee == 0 || (card.Assignee != h.who.ID && !h.who.Has(RoleCoordinator)) {
		return h.say("work_not_held", "card", card.ID)
	}
	holder := h.who
	if card.Assignee != h.who.ID {
		if holder, err = h.tx.ContactByID(card.Assignee); err != nil {
			return err
		}
	}
	what := "released"
	if reason != "" {
		what += ": " + reason
	}
	if err := h.release(card, holder, what); err != nil {
		return err
	}
	if holder.ID != h.who.ID {
		if err := h.tell(holder, "work_released_by", "card", card.ID, "reason", reason); err != nil {
			return err
		}
	}
	if err := h.say("work_released", "card", card.ID); err != nil {
		return err
	}
	return h.reoffer(card, holder.ID)
}

// release takes card from holder (what goes into its history) and ends
// their conversation about it.
func (h *handling) release(card *store.Card, holder *store.Contact, what string) error {
	ok, err := h.tx.ReleaseCard(card.ID, holder.ID, h.now)
	if err != nil || !ok {
		return err
	}
	card.Assignee, card.LeaseUntil = 0, time.Time{}
	if err := h.event(card, card.Stage, card.Stage, what); err != nil {
		return err
	}
	_, err = h.dropWork(holder, card.ID)
	return err
}

// reoffer offers a card back in its queue to the next volunteer, not to
// the one who just gave it up.
func (h *handling) reoffer(card *store.Card, notTo int64) error {
	_, st := h.queueOf(card)
	if st == nil || st.Role == RoleCoordinator {
		return nil
	}
	_, err := h.offerNext(card, st, 0, notTo)
	return err
}

// expireLeases puts back in their queues the cards whose holders' leases
// ran out, telling each holder. A holder still answering the card's
// questions keeps it: their lease runs on from their last answer.
func (r *Runtime) expireLeases(ctx context.Context, now time.Time) error {
	return r.asSystem(ctx, now, func(h *handling) error {
		cards, err := h.tx.ExpiredLeases(now, jobBatch)
		if err != nil {
			return err
		}
		for _, card := range cards {
			if err := h.expireLease(card); err != nil {
				return fmt.Errorf("%s: %w", card.ID, err)
			}
		}
		return nil
	})
}

func (h *handling) expireLease(card *store.Card) error {
	holder, err := h.tx.ContactByID(card.Assignee)
	if err != nil {
		return err
	}
	_, st := h.queueOf(card)
	o, err := h.as(holder)
	if err != nil {
		return err
	}
	if o.st.Card == card.ID {
		last, err := h.tx.SessionUpdated(holder.ID)
		if err != nil {
			return err
		}
		if until := last.Add(leaseOf(st)); until.After(h.now) {
			_, err := h.tx.RenewLease(card.ID, holder.ID, until)
			return err
		}
	}
	ok, err := h.tx.ExpireLease(card.ID, holder.ID, h.now)
	if err != nil || !ok {
		return err
	}
	card.Assignee, card.LeaseUntil = 0, time.Time{}
	h.r.metrics().leaseExpired(card.Flow, card.Stage)
	if err := h.event(card, card.Stage, card.Stage, "time ran out for "+personName(holder)+"; back in the queue"); err != nil {
		return err
	}
	if _, err := h.dropWork(holder, card.ID); err != nil {
		return err
	}
	if err := h.tell(holder, "work_lease_expired", "card", card.ID, "stage", h.stageTitle(card, langOf(holder, h.r.lang))); err != nil {
		return err
	}
	return h.reoffer(card, holder.ID)
}

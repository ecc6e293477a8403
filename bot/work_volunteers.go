package bot

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"sewa/flows"
	"sewa/store"
)

// Volunteers: deciding applications, roles, pausing, removing, assigning.

// isApplication reports whether st decides a volunteer application: one
// of its routes grants roles.
func isApplication(st *flows.Stage) bool {
	if st == nil {
		return false
	}
	return slices.ContainsFunc(st.Routes, func(r *flows.Route) bool { return slices.Contains(r.Do, "grant_roles") })
}

// cmdApprove decides a volunteer application with roles: the card's review
// stage is answered as if the coordinator had worked it, so the flow's
// routes, texts and actions apply.
func (h *handling) cmdApprove(args string) error {
	id, rest := cardArg(args)
	if id == "" {
		return h.say("volunteer_approve_usage", "card", "V-1", "roles", "caller logistics")
	}
	card, err := h.application(id)
	if card == nil || err != nil {
		return err
	}
	roles := ParseRoles(rest)
	if len(roles) == 0 {
		return h.say("volunteer_approve_usage", "card", card.ID, "roles", suggestRoles(card))
	}
	return h.decide(card, "approve", strings.Join(roles, " "))
}

// cmdDecline declines a volunteer application with a reason, which the
// applicant is told. Without one, the flow asks for it.
func (h *handling) cmdDecline(args string) error {
	id, reason := cardArg(args)
	if id == "" {
		return h.say("volunteer_decline_usage")
	}
	card, err := h.application(id)
	if card == nil || err != nil {
		return err
	}
	return h.decide(card, "decline", reason)
}

// application loads the application id waiting for a decision; otherwise
// it tells the sender why not and returns nil.
func (h *handling) application(id string) (*store.Card, error) {
	card, err := h.tx.Card(id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, h.say("work_no_card", "card", id)
	}
	if err != nil {
		return nil, err
	}
	f := h.r.flows.Flow(card.Flow)
	if f == nil || !slices.ContainsFunc(f.Stages, isApplication) {
		return nil, h.say("volunteer_not_application", "card", card.ID)
	}
	if !card.Open || !isApplication(f.Stage(card.Stage)) {
		return nil, h.say("volunteer_decided", "card", card.ID, "stage", h.stageTitle(card, h.lang))
	}
	return card, nil
}

// decide answers the review stage of card: choice to its first question,
// text to the next one. If the flow asks more than that (a group's own
// flow file), the conversation goes on with the coordinator.
func (h *handling) decide(card *store.Card, choice, text string) error {
	ec := engineCard(card)
	sess, effs, err := flows.StartStage(h.r.flows, ec, flows.Known{}, h.now)
	if err != nil {
		return err
	}
	inputs := []flows.Input{{Choice: choice}}
	if text != "" {
		inputs = append(inputs, flows.Input{Text: text})
	}
	for _, in := range inputs {
		if !sess.Active() || hasProblem(effs) {
			break
		}
		ec, sess, effs = flows.Step(h.r.flows, ec, sess, in, flows.Known{}, h.now)
	}
	if sess.Active() && h.st.Active() && h.st.Card != card.ID {
		return h.busyWith()
	}
	if err := h.takeOver(card); err != nil {
		return err
	}
	if sess.Active() {
		ok, err := h.tx.AssignCard(card.ID, h.who.ID, h.now, h.now.Add(leaseOf(h.r.flows.Flow(card.Flow).Stage(card.Stage))))
		if err != nil || !ok {
			return err
		}
		return h.begin(sess, effs, card)
	}
	card.Fields = ec.Fields
	saved := h.st
	if saved.Card == card.ID {
		saved = state{Session: flows.Session{Version: saved.Version}}
	}
	err = h.apply(effs, card)
	h.st = saved
	if err != nil {
		return err
	}
	if choice == "approve" {
		return h.say("volunteer_approved", "card", card.ID, "name", card.Fields["name"], "roles", roleList(strings.Fields(card.Fields["roles"])))
	}
	return h.say("volunteer_declined", "card", card.ID, "name", card.Fields["name"])
}

func hasProblem(effs []flows.Effect) bool {
	return slices.ContainsFunc(effs, func(e flows.Effect) bool {
		a, ok := e.(flows.Ask)
		return ok && a.Problem != nil
	})
}

// busyWith tells the sender to finish their current conversation first.
func (h *handling) busyWith() error {
	if h.st.Card != "" {
		return h.say("work_busy", "card", h.st.Card)
	}
	return h.say("work_finish_form")
}

// takeOver takes card from whoever else holds it, because the sender (a
// coordinator) acts on it: their conversation about it ends and they are
// told.
func (h *handling) takeOver(card *store.Card) error {
	if card.Assignee == 0 || card.Assignee == h.who.ID {
		return nil
	}
	holder, err := h.tx.ContactByID(card.Assignee)
	if err != nil {
		return err
	}
	if err := h.release(card, holder, "taken over by "+personName(h.who)); err != nil {
		return err
	}
	return h.tell(holder, "work_taken_over", "card", card.ID, "name", personName(h.who))
}

// welcomeIfApproved sends a new volunteer, once their application has
// moved out of review through a route that granted roles, the guides of
// their roles and the commands they can now use.
func (h *handling) welcomeIfApproved(card *store.Card, from string) error {
	f := h.r.flows.Flow(card.Flow)
	if f == nil || card.Requester == 0 {
		return nil
	}
	st := f.Stage(from)
	if !isApplication(st) || !slices.ContainsFunc(st.Routes, func(r *flows.Route) bool {
		return r.To == card.Stage && slices.Contains(r.Do, "grant_roles")
	}) {
		return nil
	}
	c, err := h.tx.ContactByID(card.Requester)
	if err != nil || !isVolunteer(c) {
		return err // moved by hand, without the roles: no welcome
	}
	if name := strings.TrimSpace(card.Fields["name"]); name != "" && name != c.Name {
		// Coordinators find volunteers by the name they applied with, not
		// by their chat display name.
		c.Name = name
		if err := h.tx.SaveContact(c); err != nil {
			return err
		}
	}
	return h.sendTo(c, Outgoing{Text: h.welcomeText(c, ParseRoles(card.Fields["roles"]))})
}

// welcomeText explains the work to a volunteer with roles: how tasks come,
// the guide of every stage they work, and their commands.
func (h *handling) welcomeText(c *store.Contact, roles []string) string {
	lang := langOf(c, h.r.lang)
	var b strings.Builder
	b.WriteString(h.catalog().Get(lang, "volunteer_welcome"))
	for _, f := range h.r.flows.Flows {
		for _, st := range f.Stages {
			if !isQueue(st) || !slices.Contains(roles, st.Role) || st.Role == RoleCoordinator {
				continue
			}
			fmt.Fprintf(&b, "\n\n%s · %s\n%s", f.Title.In(lang), st.Title.In(lang), strings.TrimSpace(st.Guide.In(lang)))
		}
	}
	b.WriteString("\n\n" + h.catalog().Get(lang, "volunteer_commands"))
	for _, cmd := range h.workCommands() {
		if slices.Equal(cmd.roles, WorkRoles) {
			fmt.Fprintf(&b, "\n/%s — %s", cmd.name, h.catalog().Get(lang, cmd.help))
		}
	}
	return b.String()
}

// person finds whom a coordinator means: a card id (its requester: V-3 is
// the applicant), a key (tg:123, console:asha) or a name. When nobody or
// several people match, the sender is told and nil returned.
func (h *handling) person(q string, withRoles bool) (*store.Contact, error) {
	q = strings.TrimPrefix(strings.TrimSpace(q), "@")
	if id, rest := cardArg(q); id != "" && rest == "" {
		card, err := h.tx.Card(id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, h.say("work_no_card", "card", id)
		}
		if err != nil {
			return nil, err
		}
		if card.Requester == 0 {
			return nil, h.say("who_none", "who", q)
		}
		return h.tx.ContactByID(card.Requester)
	}
	if ch, addr, ok := strings.Cut(q, ":"); ok {
		c, err := h.tx.Contact(strings.ToLower(ch), addr)
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	found, err := h.tx.FindContacts(q, withRoles, 10)
	if err != nil {
		return nil, err
	}
	switch len(found) {
	case 0:
		return nil, h.say("who_none", "who", q)
	case 1:
		return found[0], nil
	}
	names := make([]string, len(found))
	for i, c := range found {
		names[i] = fmt.Sprintf("%s (%s)", personName(c), c.Key())
	}
	return nil, h.say("who_ambiguous", "who", q, "list", strings.Join(names, ", "), "key", found[0].Key())
}

// cmdVolunteers lists the volunteers: roles, open tasks, last seen, paused.
func (h *handling) cmdVolunteers(string) error {
	ws, err := h.tx.Workers(WorkRoles)
	if err != nil {
		return err
	}
	if len(ws) == 0 {
		return h.say("volunteers_none")
	}
	var b strings.Builder
	b.WriteString(h.catalog().Get(h.lang, "volunteers_title", "count", len(ws)))
	for _, w := range ws {
		c := w.Contact
		fmt.Fprintf(&b, "\n%s (%s) · %s · %s · %s", personName(c), c.Key(), roleList(c.Roles),
			h.catalog().Get(h.lang, "volunteers_tasks", "count", w.Held), h.catalog().Get(h.lang, "volunteers_seen", "when", h.when(c.LastSeen)))
		if w.Offered > 0 {
			b.WriteString(" · " + h.catalog().Get(h.lang, "volunteers_offers", "count", w.Offered))
		}
		if !w.Paused.IsZero() {
			b.WriteString(" · " + h.catalog().Get(h.lang, "volunteers_paused", "when", h.when(w.Paused)))
			if w.PauseNote != "" {
				b.WriteString(" (" + w.PauseNote + ")")
			}
		}
		if !c.Blocked.IsZero() {
			b.WriteString(" · " + h.catalog().Get(h.lang, "volunteers_blocked"))
		}
	}
	return h.send(Outgoing{Text: b.String()})
}

// roleOp is one change asked of /roles: +caller, -logistics, or a bare
// role to add.
type roleOp struct {
	add  bool
	role string
	word string
}

// splitRoleOps reads "Asha Devi +caller -logistics" from the end: the role
// changes, and before them whom they are for.
func splitRoleOps(args string) (string, []roleOp, string) {
	words := strings.Fields(args)
	var ops []roleOp
	i := len(words)
	for ; i > 0; i-- {
		w := words[i-1]
		op := roleOp{add: true, word: w}
		switch {
		case strings.HasPrefix(w, "+"):
			w = w[1:]
		case strings.HasPrefix(w, "-"):
			op.add, w = false, w[1:]
		}
		roles := ParseRoles(w)
		if len(roles) != 1 {
			if w != op.word {
				return "", nil, op.word // a +/- word that is no role
			}
			break
		}
		op.role = roles[0]
		ops = append([]roleOp{op}, ops...)
	}
	return strings.Join(words[:i], " "), ops, ""
}

// cmdRoles shows or changes a person's roles. A volunteer who loses a role
// gives back the cards and offers of its stages.
func (h *handling) cmdRoles(args string) error {
	who, ops, bad := splitRoleOps(args)
	if bad != "" {
		return h.say("roles_unknown", "word", bad)
	}
	if who == "" {
		return h.say("roles_usage")
	}
	c, err := h.person(who, false)
	if c == nil || err != nil {
		return err
	}
	before := slices.Clone(c.Roles)
	for _, op := range ops {
		has := c.Has(op.role)
		switch {
		case op.add && !has:
			c.Roles = append(c.Roles, op.role)
		case !op.add && has:
			c.Roles = slices.DeleteFunc(c.Roles, func(r string) bool { return r == op.role })
		}
	}
	slices.Sort(c.Roles)
	slices.Sort(before)
	if slices.Equal(before, c.Roles) {
		return h.say("roles_of", "name", personName(c), "roles", h.rolesOrNone(c.Roles))
	}
	if err := h.tx.SaveContact(c); err != nil {
		return err
	}
	if c.ID == h.who.ID {
		h.who.Roles = c.Roles
	}
	if _, err := h.setAside(c, "roles changed", func(card *store.Card) bool {
		_, st := h.queueOf(card)
		return st != nil && !mayWork(c, st)
	}); err != nil {
		return err
	}
	if c.ID != h.who.ID {
		if err := h.tell(c, "roles_now", "roles", h.rolesOrNoneIn(langOf(c, h.r.lang), c.Roles)); err != nil {
			return err
		}
	}
	return h.say("roles_of", "name", personName(c), "roles", h.rolesOrNone(c.Roles))
}

func (h *handling) rolesOrNone(roles []string) string { return h.rolesOrNoneIn(h.lang, roles) }

func (h *handling) rolesOrNoneIn(lang string, roles []string) string {
	if len(roles) == 0 {
		return h.catalog().Get(lang, "roles_none")
	}
	return roleList(roles)
}

// setAside gives back the cards c holds and the offers made to them for
// which drop is true (nil: all), each to the next volunteer; why goes into
// the cards' history. It returns the cards given back.
func (h *handling) setAside(c *store.Contact, why string, drop func(*store.Card) bool) ([]*store.Card, error) {
	held, err := h.tx.HeldCards(c.ID)
	if err != nil {
		return nil, err
	}
	var back []*store.Card
	for _, card := range held {
		if drop != nil && !drop(card) {
			continue
		}
		if err := h.release(card, c, "released: "+why); err != nil {
			return nil, err
		}
		back = append(back, card)
	}
	offers, err := h.tx.OpenOffersTo(c.ID)
	if err != nil {
		return nil, err
	}
	for _, o := range offers {
		card, err := h.tx.Card(o.Card)
		if err != nil {
			return nil, err
		}
		if drop != nil && !drop(card) {
			continue
		}
		if _, err := h.tx.CloseOffer(o.ID, store.OfferWithdrawn, h.now); err != nil {
			return nil, err
		}
		if err := h.offerAgain(card, &o); err != nil {
			return nil, err
		}
	}
	for _, card := range back {
		if err := h.reoffer(card, c.ID); err != nil {
			return nil, err
		}
	}
	return back, nil
}

// pauseTarget is whom /pause and /resume are about: a coordinator may name
// someone; anyone else's words are a note.
func (h *handling) pauseTarget(args string) (*store.Contact, string, error) {
	if args == "" || !h.who.Has(RoleCoordinator) {
		return h.who, args, nil
	}
	c, err := h.person(args, true)
	return c, "", err
}

// cmdPause stops offers and /next for a volunteer (going away for a week);
// the cards they hold go back to their queues.
func (h *handling) cmdPause(args string) error {
	c, note, err := h.pauseTarget(strings.TrimSpace(args))
	if c == nil || err != nil {
		return err
	}
	at, _, err := h.tx.PausedSince(c.ID)
	if err != nil {
		return err
	}
	if !at.IsZero() {
		if c.ID == h.who.ID {
			return h.say("pause_already_you", "since", h.when(at))
		}
		return h.say("pause_already", "name", personName(c), "since", h.when(at))
	}
	if err := h.tx.SetPaused(c.ID, h.now, note); err != nil {
		return err
	}
	back, err := h.setAside(c, "paused", nil)
	if err != nil {
		return err
	}
	gaveBack := ""
	if len(back) > 0 {
		gaveBack = " " + h.catalog().Get(langOf(c, h.r.lang), "pause_gave_back", "cards", cardIDs(back))
	}
	if c.ID == h.who.ID {
		return h.send(Outgoing{Text: h.catalog().Get(h.lang, "pause_ok") + gaveBack})
	}
	if err := h.sendTo(c, Outgoing{Text: h.catalog().Get(langOf(c, h.r.lang), "pause_by", "name", personName(h.who)) + gaveBack}); err != nil {
		return err
	}
	return h.say("pause_other", "name", personName(c))
}

// cmdResume ends a pause.
func (h *handling) cmdResume(args string) error {
	c, _, err := h.pauseTarget(strings.TrimSpace(args))
	if c == nil || err != nil {
		return err
	}
	at, _, err := h.tx.PausedSince(c.ID)
	if err != nil {
		return err
	}
	if at.IsZero() {
		if c.ID == h.who.ID {
			return h.say("resume_not_paused_you")
		}
		return h.say("resume_not_paused", "name", personName(c))
	}
	if err := h.tx.SetPaused(c.ID, time.Time{}, ""); err != nil {
		return err
	}
	if c.ID == h.who.ID {
		return h.say("resume_ok")
	}
	if err := h.tell(c, "resume_by", "name", personName(h.who)); err != nil {
		return err
	}
	return h.say("resume_other", "name", personName(c))
}

// cmdRemove takes a volunteer off the list: their work roles go, their
// cards go back to the queues, and they are thanked.
func (h *handling) cmdRemove(args string) error {
	if strings.TrimSpace(args) == "" {
		return h.say("remove_usage")
	}
	c, err := h.person(args, false)
	if c == nil || err != nil {
		return err
	}
	if !isVolunteer(c) {
		return h.say("remove_not_volunteer", "name", personName(c))
	}
	c.Roles = slices.DeleteFunc(c.Roles, func(r string) bool { return slices.Contains(WorkRoles, r) })
	if err := h.tx.SaveContact(c); err != nil {
		return err
	}
	if c.ID == h.who.ID {
		h.who.Roles = c.Roles
	}
	if err := h.tx.SetPaused(c.ID, time.Time{}, ""); err != nil {
		return err
	}
	if _, err := h.setAside(c, "removed", nil); err != nil {
		return err
	}
	if c.ID != h.who.ID {
		if err := h.tell(c, "remove_you"); err != nil {
			return err
		}
	}
	return h.say("remove_ok", "name", personName(c))
}

// cmdAssign gives a card to a volunteer directly: "/assign R-7 Asha".
// Whoever held it is told; the new holder gets the card and its questions
// at once, or after the task they are on.
func (h *handling) cmdAssign(args string) error {
	id, who := cardArg(args)
	if id == "" || who == "" {
		return h.say("assign_usage")
	}
	card, err := h.tx.Card(id)
	if errors.Is(err, store.ErrNotFound) {
		return h.say("work_no_card", "card", id)
	}
	if err != nil {
		return err
	}
	_, st := h.queueOf(card)
	if st == nil {
		return h.say("work_not_queued", "card", card.ID, "stage", h.stageTitle(card, h.lang))
	}
	c, err := h.person(who, true)
	if c == nil || err != nil {
		return err
	}
	switch {
	case !mayWork(c, st):
		return h.say("assign_no_role", "name", personName(c), "card", card.ID, "who", h.rolesText([]string{st.Role}), "role", st.Role, "key", c.Key())
	case !c.Blocked.IsZero():
		return h.say("assign_blocked", "name", personName(c))
	case card.Assignee == c.ID:
		return h.say("assign_already", "card", card.ID, "name", personName(c), "until", h.when(card.LeaseUntil))
	}
	if at, _, err := h.tx.PausedSince(c.ID); err != nil || !at.IsZero() {
		if err != nil {
			return err
		}
		return h.say("assign_paused", "name", personName(c), "key", c.Key())
	}
	if err := h.takeOver(card); err != nil {
		return err
	}
	until := h.now.Add(leaseOf(st))
	if _, err := h.tx.AssignCard(card.ID, c.ID, h.now, until); err != nil {
		return err
	}
	card.Assignee, card.LeaseUntil = c.ID, until
	if err := h.event(card, card.Stage, card.Stage, "assigned to "+personName(c)+" until "+h.when(until)); err != nil {
		return err
	}
	if err := h.withdrawOffers(card, c.ID); err != nil {
		return err
	}
	if err := h.say("assign_ok", "card", card.ID, "name", personName(c), "until", h.when(until)); err != nil {
		return err
	}
	o, err := h.as(c)
	if err != nil {
		return err
	}
	if err := o.tell(c, "assign_you", "card", card.ID, "name", personName(h.who)); err != nil {
		return err
	}
	if o.st.Active() {
		return o.tell(c, "assign_later", "card", card.ID)
	}
	if err := o.beginWork(card); err != nil {
		return err
	}
	return h.save(o)
}

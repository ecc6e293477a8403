package bot

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"sewa/flows"
	"sewa/store"
)

// Volunteers and their work. Every stage worked by people is a queue: a
// volunteer pulls the oldest card they may work (/next) or is offered one
// when it enters a stage (push), holds it under a lease while answering the
// stage's questions, and the card moves on. The code is split by concern:
// work.go (commands, jobs, who may work what), work_queue.go (pulling,
// holding, releasing, leases), work_offers.go (push offers) and
// work_volunteers.go (applications, roles, pausing).

const (
	// defaultLease is how long a card is held when its stage names no lease.
	defaultLease = 30 * time.Minute
	// defaultCapacity is how many open tasks (held cards plus open offers)
	// a volunteer is given at most by push assignment.
	defaultCapacity = 3
	// defaultOfferWindow is how long an offer waits for an answer before the
	// card is offered to the next volunteer.
	defaultOfferWindow = 15 * time.Minute
	// jobBatch bounds the cards one run of a job handles, so one tick stays
	// short; the rest wait for the next tick.
	jobBatch = 100
)

// workConfig holds the settings of push assignment; its zero value means
// the defaults.
type workConfig struct {
	capacity    int
	offerWindow time.Duration
}

// WithCapacity sets how many open tasks (cards held plus offers open) a
// volunteer is given at most by push assignment and may hold (default 3).
// Coordinators may give more with /assign.
func WithCapacity(n int) Option { return func(r *Runtime) { r.work.capacity = n } }

// WithOfferWindow sets how long an offered card waits for an answer before
// it is offered to the next volunteer (default 15 minutes).
func WithOfferWindow(d time.Duration) Option { return func(r *Runtime) { r.work.offerWindow = d } }

// capacity is how many open tasks push assignment gives one volunteer.
func (r *Runtime) capacity() int {
	if r.work.capacity > 0 {
		return r.work.capacity
	}
	return defaultCapacity
}

// offerWindow is how long an offer waits for an answer.
func (r *Runtime) offerWindow() time.Duration {
	if r.work.offerWindow > 0 {
		return r.work.offerWindow
	}
	return defaultOfferWindow
}

// workCommands are the volunteers' (taking, holding and finishing tasks)
// and the coordinators' for managing volunteers. A volunteer is anyone with
// a work role; coordinators may use them all.
func (h *handling) workCommands() []command {
	vol := WorkRoles
	coord := []string{RoleCoordinator}
	return []command{
		{name: "next", roles: vol, help: "help_next", run: (*handling).cmdNext},
		{name: "tasks", roles: vol, help: "help_tasks", run: (*handling).cmdTasks},
		{name: "take", roles: vol, help: "help_take", run: (*handling).cmdTake},
		{name: "release", roles: vol, help: "help_release", run: (*handling).cmdRelease},
		{name: "accept", roles: vol, help: "help_accept", run: (*handling).cmdAccept},
		{name: "pass", roles: vol, help: "help_pass", run: (*handling).cmdPass},
		{name: "pause", roles: vol, help: "help_pause", run: (*handling).cmdPause},
		{name: "resume", roles: vol, help: "help_resume", run: (*handling).cmdResume},
		{name: "approve", roles: coord, help: "help_approve", run: (*handling).cmdApprove},
		{name: "decline", roles: coord, help: "help_decline", run: (*handling).cmdDecline},
		{name: "volunteers", roles: coord, help: "help_volunteers", run: (*handling).cmdVolunteers},
		{name: "roles", roles: coord, help: "help_roles", run: (*handling).cmdRoles},
		{name: "assign", roles: coord, help: "help_assign", run: (*handling).cmdAssign},
		{name: "remove", roles: coord, help: "help_remove", run: (*handling).cmdRemove},
	}
}

// workJobs expire leases and time out offers.
func (r *Runtime) workJobs() []job {
	return []job{
		{name: "leases", spec: "@every 1m", run: r.expireLeases},
		{name: "offers", spec: "@every 1m", run: r.expireOffers},
	}
}

// isQueue reports whether people work st: it is a queue.
func isQueue(st *flows.Stage) bool {
	return st != nil && !st.Final && st.Role != "" && st.Role != flows.RoleSystem
}

// queueOf returns the flow and stage of card when the stage is a queue.
func (h *handling) queueOf(card *store.Card) (*flows.Flow, *flows.Stage) {
	f := h.r.flows.Flow(card.Flow)
	if f == nil {
		return nil, nil
	}
	st := f.Stage(card.Stage)
	if !isQueue(st) || !card.Open {
		return f, nil
	}
	return f, st
}

func leaseOf(st *flows.Stage) time.Duration {
	if st != nil && st.Lease > 0 {
		return time.Duration(st.Lease)
	}
	return defaultLease
}

// mayWork reports whether c may take and see cards in stage st: they have
// its role, or coordinate.
func mayWork(c *store.Contact, st *flows.Stage) bool {
	return isQueue(st) && (c.Has(st.Role) || c.Has(RoleCoordinator))
}

// isVolunteer reports whether c has a work role.
func isVolunteer(c *store.Contact) bool { return slices.ContainsFunc(WorkRoles, c.Has) }

// workStages lists the queues c may work, in flow file order.
func (r *Runtime) workStages(c *store.Contact) []store.StageRef {
	var out []store.StageRef
	for _, f := range r.flows.Flows {
		for _, st := range f.Stages {
			if mayWork(c, st) {
				out = append(out, store.StageRef{Flow: f.ID, Stage: st.ID})
			}
		}
	}
	return out
}

// as returns a handling for contact c inside h's transaction, with c's
// language and stored conversation, so that work can begin in c's chat (a
// card assigned to them). Call save on it afterwards; for h's own sender it
// is h itself, saved when the message is done.
func (h *handling) as(c *store.Contact) (*handling, error) {
	if h.who != nil && h.who.ID == c.ID {
		return h, nil
	}
	o := &handling{r: h.r, tx: h.tx, msg: Message{Channel: c.Channel, User: c.Address}, now: h.now, touched: h.touched,
		who: c, lang: langOf(c, h.r.lang), depth: h.depth}
	raw, err := h.tx.Session(c.ID)
	if err != nil {
		return nil, err
	}
	if raw != "" {
		if err := json.Unmarshal([]byte(raw), &o.st); err != nil {
			o.st = state{}
		}
	}
	return o, nil
}

// save stores the conversation of a handling made by as.
func (h *handling) save(o *handling) error {
	if o == h {
		return nil
	}
	return o.saveState()
}

// dropWork ends c's conversation when it is about cardID (the card was
// released, reassigned or decided by someone else), so a late answer cannot
// move a card that is no longer theirs. It reports whether it did.
func (h *handling) dropWork(c *store.Contact, cardID string) (bool, error) {
	o, err := h.as(c)
	if err != nil {
		return false, err
	}
	if o.st.Card != cardID {
		return false, nil
	}
	o.st = state{Session: flows.Session{Version: o.st.Version}}
	return true, h.save(o)
}

// tell sends a catalog message to c in their language.
func (h *handling) tell(c *store.Contact, key string, args ...any) error {
	return h.sendTo(c, Outgoing{Text: h.catalog().Get(langOf(c, h.r.lang), key, args...)})
}

// cardArg splits "R-7 the rest" into "R-7" and "the rest" when the first
// word looks like a card id.
func cardArg(args string) (string, string) {
	word, rest, _ := strings.Cut(strings.TrimSpace(args), " ")
	word = strings.ToUpper(strings.TrimPrefix(word, "#"))
	prefix, num, ok := strings.Cut(word, "-")
	if !ok || prefix == "" || num == "" || strings.Trim(num, "0123456789") != "" || strings.Trim(prefix, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		return "", strings.TrimSpace(args)
	}
	return word, strings.TrimSpace(rest)
}

// personName is how a contact is named to others.
func personName(c *store.Contact) string {
	if c.Name != "" {
		return c.Name
	}
	return c.Address
}

// roleList names roles for people: "caller, logistics".
func roleList(roles []string) string { return strings.Join(roles, ", ") }

// fieldOrder lists a card's fields the way a person reads them: the intake's
// questions in order, then the stages' questions, then anything else.
func fieldOrder(f *flows.Flow, fields map[string]string) []string {
	var keys []string
	add := func(k string) {
		if fields[k] != "" && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	if f != nil {
		if f.Intake != nil {
			for _, q := range f.Intake.Questions {
				add(q.ID)
			}
		}
		for _, st := range f.Stages {
			for _, q := range st.Questions {
				add(q.ID)
			}
		}
	}
	var rest []string
	for k := range fields {
		if !slices.Contains(keys, k) && fields[k] != "" {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	return append(keys, rest...)
}

// cardFields writes a card's fields one per line; without pii, phone
// numbers, addresses and the like are left out.
func cardFields(f *flows.Flow, card *store.Card, pii bool) string {
	var b strings.Builder
	for _, k := range fieldOrder(f, card.Fields) {
		if !pii && slices.Contains(piiFields, k) {
			continue
		}
		fmt.Fprintf(&b, "\n  %s: %s", k, card.Fields[k])
	}
	return b.String()
}

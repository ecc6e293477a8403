package bot

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"sewa/flows"
	"sewa/store"
)

// Names in the default flows by which the day's numbers are counted. A flow
// file without them shows zeros for those numbers; everything else on the
// board comes from the flow file itself.
const (
	requestFlow    = "request"
	validateStage  = "validate"  // a request leaving it was validated (approved or not)
	deliveredStage = "delivered" // a request entering it was delivered, with its kits_given
	donationFlow   = "donation"
	amountField    = "amount" // "1100.00"
)

// cmdStatus is the coordinators' bird's-eye view; "/status R" shows one flow.
func (h *handling) cmdStatus(args string) error {
	if arg := strings.TrimSpace(args); arg != "" {
		f := h.r.flowByArg(arg, h.lang)
		if f == nil {
			return h.say("status_no_flow", "flow", arg, "flows", h.r.flowNames())
		}
		return h.statusFlow(f)
	}
	return h.statusAll()
}

// boardStats reads every work stage's queue.
func (h *handling) boardStats() ([]store.StageStat, error) {
	return h.tx.Board(h.r.boardQueries(h.now))
}

// boardQueries asks about every work stage's queue at now, stale counted by
// each stage's own stale_after: what /status and the metrics read.
func (r *Runtime) boardQueries(now time.Time) []store.StageQuery {
	var qs []store.StageQuery
	r.openStages(func(f *flows.Flow, st *flows.Stage) {
		q := store.StageQuery{Flow: f.ID, Stage: st.ID}
		if st.StaleAfter > 0 {
			q.StaleBefore = now.Add(-time.Duration(st.StaleAfter))
		}
		qs = append(qs, q)
	})
	return qs
}

func (h *handling) statusAll() error {
	c, lang := h.catalog(), h.lang
	stats, err := h.boardStats()
	if err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString(c.Get(lang, "status_title", "time", h.when(h.now)))
	for _, g := range h.byFlow(stats) {
		var parts []string
		for _, s := range g.stats {
			if s.Open == 0 {
				continue
			}
			var notes []string
			if s.Held > 0 {
				notes = append(notes, c.Get(lang, "status_held", "n", s.Held))
			}
			if s.Stale > 0 {
				notes = append(notes, c.Get(lang, "status_stale", "n", staleCount(s.Stale)))
			}
			if age := h.now.Sub(s.Oldest); age >= time.Hour {
				notes = append(notes, c.Get(lang, "oldest", "age", shortAge(age)))
			}
			part := fmt.Sprintf("%s %d", s.Stage, s.Open)
			if len(notes) > 0 {
				part += " (" + strings.Join(notes, ", ") + ")"
			}
			parts = append(parts, part)
		}
		line := "—"
		if len(parts) > 0 {
			line = strings.Join(parts, ", ")
		}
		fmt.Fprintf(&b, "\n%s: %s", g.title, line)
	}
	day := h.r.midnight(h.now)
	today, err := h.dayNumbers(day, day.AddDate(0, 0, 1), false)
	if err != nil {
		return err
	}
	b.WriteString("\n" + c.Get(lang, "status_today", "numbers", h.numbersText(lang, today)))
	stock, err := h.stockText(lang)
	if err != nil {
		return err
	}
	b.WriteString("\n" + stock)
	lines, err := h.channelLines(lang)
	if err != nil {
		return err
	}
	for _, l := range lines {
		b.WriteString("\n" + l)
	}
	return h.send(Outgoing{Text: b.String()})
}

// flowStats is one flow's stages, in the flow's order.
type flowStats struct {
	flow  *flows.Flow // nil for a flow the flow file no longer has
	title string      // "Ration kit request (R-)"
	stats []store.StageStat
}

func (h *handling) byFlow(stats []store.StageStat) []flowStats {
	var out []flowStats
	index := map[string]int{}
	for _, f := range h.r.flows.Flows {
		index[f.ID] = len(out)
		out = append(out, flowStats{flow: f, title: fmt.Sprintf("%s (%s-)", f.Title.In(h.lang), f.Prefix)})
	}
	for _, s := range stats {
		i, ok := index[s.Flow]
		if !ok {
			i = len(out)
			index[s.Flow] = i
			out = append(out, flowStats{title: s.Flow})
		}
		out[i].stats = append(out[i].stats, s)
	}
	return out
}

func staleCount(n int) string {
	if n >= store.StaleCap {
		return fmt.Sprintf("%d+", store.StaleCap)
	}
	return fmt.Sprint(n)
}

// dayNumbers are the day's work in figures.
type dayNumbers struct {
	Requests   int   // received
	Validated  int   // called and decided
	Delivered  int   // delivered
	Kits       int64 // handed over, in hundredths
	Donations  int   // received
	Amount     int64 // their sum, in paise
	Volunteers int   // people with a work role seen or acting
}

// dayNumbers counts the work done in [from, to). Volunteers are those seen
// then; actedToo adds those who acted on a card then but were seen since
// (for a past day), which costs a read of that day's events.
func (h *handling) dayNumbers(from, to time.Time, actedToo bool) (dayNumbers, error) {
	var d dayNumbers
	if f := h.r.flows.Flow(requestFlow); f != nil {
		n, err := h.tx.CreatedBetween(f.ID, from, to)
		if err != nil {
			return d, err
		}
		d.Requests = n
		moves, err := h.tx.MovesBetween(f.Prefix, from, to)
		if err != nil {
			return d, err
		}
		for _, m := range moves {
			if m.From == validateStage && m.To != validateStage {
				d.Validated += m.N
			}
			if m.To == deliveredStage && m.From != deliveredStage {
				d.Delivered += m.N
				d.Kits += m.Kits
			}
		}
	}
	if f := h.r.flows.Flow(donationFlow); f != nil {
		s, err := h.tx.SumCreated(f.ID, amountField, from, to)
		if err != nil {
			return d, err
		}
		d.Donations, d.Amount = s.N, s.Hundredths
	}
	workers, err := h.tx.SeenWorkers(from, to)
	if actedToo {
		workers, err = h.tx.ActiveWorkers(from, to)
	}
	if err != nil {
		return d, err
	}
	for _, w := range workers {
		if slices.ContainsFunc(WorkRoles, w.Has) {
			d.Volunteers++
		}
	}
	return d, nil
}

func (h *handling) numbersText(lang string, d dayNumbers) string {
	return h.catalog().Get(lang, "day_numbers", "requests", d.Requests, "validated", d.Validated, "delivered", d.Delivered,
		"kits", d.Kits/100, "donations", d.Donations, "amount", rupees(d.Amount), "volunteers", d.Volunteers)
}

func (h *handling) stockText(lang string) (string, error) {
	levels, err := h.tx.StockLevels()
	if err != nil {
		return "", err
	}
	var parts []string
	for _, l := range levels {
		if l.OnHand == 0 && l.Reserved == 0 {
			continue
		}
		item := l.Item
		if l.Location != "" {
			item += " @ " + l.Location
		}
		parts = append(parts, h.catalog().Get(lang, "stock_level", "item", item, "on_hand", l.OnHand, "reserved", l.Reserved))
	}
	if len(parts) == 0 {
		return h.catalog().Get(lang, "status_stock_none"), nil
	}
	return h.catalog().Get(lang, "status_stock", "levels", strings.Join(parts, "; ")), nil
}

// channelLines says, per channel, whether it is connected (when it can
// tell), when it last received something, and how its outbox is doing.
func (h *handling) channelLines(lang string) ([]string, error) {
	c := h.catalog()
	names := make([]string, 0, len(h.r.channels))
	for name := range h.r.channels {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []string
	for _, name := range names {
		stats, err := h.tx.ChannelActivity(name, h.now.Add(-24*time.Hour))
		if err != nil {
			return nil, err
		}
		last, state := stats.LastIn, ""
		switch ch := h.r.channels[name].(type) {
		case healthReporter:
			hh := ch.Health()
			if hh.LastUpdate.After(last) {
				last = hh.LastUpdate
			}
			state = c.Get(lang, "channel_up")
			if !hh.Connected {
				state = c.Get(lang, "channel_down", "problem", hh.Problem)
			}
		case connectedChannel:
			state = c.Get(lang, "channel_up")
			if !ch.Connected() {
				state = c.Get(lang, "channel_down", "problem", "")
			}
		}
		if state != "" {
			state = strings.TrimSpace(strings.ReplaceAll(state, "()", "")) + ", "
		}
		lastText := c.Get(lang, "never")
		if !last.IsZero() {
			lastText = h.when(last)
		}
		out = append(out, c.Get(lang, "status_channel", "channel", name, "state", state, "last", lastText,
			"pending", stats.Pending, "failed", stats.Failed))
	}
	return out, nil
}

// statusFlow shows one flow in detail: each stage, the stalest cards and
// the day's moves.
func (h *handling) statusFlow(f *flows.Flow) error {
	c, lang := h.catalog(), h.lang
	stats, err := h.boardStats()
	if err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString(c.Get(lang, "status_flow_title", "flow", f.Title.In(lang), "prefix", f.Prefix, "time", h.when(h.now)))
	var stalest []*store.Card
	for _, s := range stats {
		if s.Flow != f.ID {
			continue
		}
		st := f.Stage(s.Stage)
		title := s.Stage
		if st != nil {
			title = st.Title.In(lang)
		}
		if s.Open == 0 {
			b.WriteString("\n" + c.Get(lang, "status_stage_empty", "stage", title, "id", s.Stage))
			continue
		}
		line := c.Get(lang, "status_stage", "stage", title, "id", s.Stage, "open", s.Open, "held", s.Held, "waiting", s.Open-s.Held)
		if s.Stale > 0 && st != nil {
			line += "; " + c.Get(lang, "status_stage_stale", "n", staleCount(s.Stale), "after", shortAge(time.Duration(st.StaleAfter)))
			cards, err := h.tx.OldestOpen(f.ID, s.Stage, h.now.Add(-time.Duration(st.StaleAfter)), 5)
			if err != nil {
				return err
			}
			stalest = append(stalest, cards...)
		}
		if !s.Oldest.IsZero() {
			line += "; " + c.Get(lang, "oldest_card", "age", shortAge(h.now.Sub(s.Oldest)), "card", s.OldestCard)
		}
		b.WriteString("\n" + line)
	}
	if len(stalest) > 0 {
		items, err := h.cardAges(stalest, 5)
		if err != nil {
			return err
		}
		b.WriteString("\n" + c.Get(lang, "status_stalest", "cards", strings.Join(items, " · ")))
	}
	today, err := h.flowToday(f, lang)
	if err != nil {
		return err
	}
	b.WriteString("\n" + today)
	return h.send(Outgoing{Text: b.String()})
}

// cardAges writes the longest-waiting of cards, at most n, as
// "R-4 validate 2d (Ravi)", the holder in brackets.
func (h *handling) cardAges(cards []*store.Card, n int) ([]string, error) {
	sort.SliceStable(cards, func(i, j int) bool { return cards[i].StageEntered.Before(cards[j].StageEntered) })
	var out []string
	for _, card := range cards[:min(n, len(cards))] {
		item := fmt.Sprintf("%s %s %s", card.ID, card.Stage, shortAge(h.now.Sub(card.StageEntered)))
		if card.Assignee != 0 {
			if k, err := h.tx.ContactByID(card.Assignee); err == nil {
				item += " (" + personName(k) + ")"
			} else if !isNotFound(err) {
				return nil, err
			}
		}
		out = append(out, item)
	}
	return out, nil
}

// flowToday is a flow's day so far: cards new, and moves into each stage.
func (h *handling) flowToday(f *flows.Flow, lang string) (string, error) {
	c := h.catalog()
	from := h.r.midnight(h.now)
	to := from.AddDate(0, 0, 1)
	created, err := h.tx.CreatedBetween(f.ID, from, to)
	if err != nil {
		return "", err
	}
	text := c.Get(lang, "status_flow_today", "new", created)
	if f.ID == donationFlow {
		s, err := h.tx.SumCreated(f.ID, amountField, from, to)
		if err != nil {
			return "", err
		}
		text += " (₹" + rupees(s.Hundredths) + ")"
	}
	moves, err := h.tx.MovesBetween(f.Prefix, from, to)
	if err != nil {
		return "", err
	}
	into := map[string]int{}
	for _, m := range moves {
		if m.From != "" {
			into[m.To] += m.N
		}
	}
	for _, st := range f.Stages {
		if n := into[st.ID]; n > 0 {
			text += fmt.Sprintf(" · %d → %s", n, st.ID)
		}
	}
	return text, nil
}

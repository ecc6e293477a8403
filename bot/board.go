package bot

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"sewa/store"
)

// boardCommands are the coordinators' view of the whole board.
func (h *handling) boardCommands() []command {
	return []command{
		{name: "status", roles: []string{RoleCoordinator}, help: "help_status", run: (*handling).cmdStatus},
		{name: "card", roles: []string{RoleCoordinator}, help: "help_card", run: (*handling).cmdCard},
	}
}

func (h *handling) cmdStatus(args string) error {
	counts, err := h.tx.StageCounts()
	if err != nil {
		return err
	}
	byStage := map[string]store.StageCount{}
	for _, c := range counts {
		byStage[c.Flow+"/"+c.Stage] = c
	}
	var b strings.Builder
	b.WriteString(h.catalog().Get(h.lang, "status_title", "time", h.when(h.now)))
	for _, f := range h.r.flows.Flows {
		var parts []string
		total := 0
		for _, st := range f.Stages {
			c, ok := byStage[f.ID+"/"+st.ID]
			if !ok || st.Final {
				continue
			}
			total += c.Open
			part := fmt.Sprintf("%s %d", st.ID, c.Open)
			if age := h.now.Sub(c.Oldest); age >= time.Hour {
				part += " (" + h.catalog().Get(h.lang, "oldest", "age", shortAge(age)) + ")"
			}
			parts = append(parts, part)
		}
		line := "—"
		if total > 0 {
			line = strings.Join(parts, ", ")
		}
		fmt.Fprintf(&b, "\n%s (%s-): %s", f.Title.In(h.lang), f.Prefix, line)
	}
	return h.send(Outgoing{Text: b.String()})
}

// shortAge writes a duration the way people say it: 3h, 2d.
func shortAge(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	case d >= time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	}
}

func (h *handling) cmdCard(args string) error {
	id := strings.ToUpper(strings.TrimSpace(args))
	if id == "" {
		return h.say("card_usage")
	}
	card, err := h.tx.Card(id)
	if errors.Is(err, store.ErrNotFound) {
		return h.say("card_not_found", "card", id)
	}
	if err != nil {
		return err
	}
	events, err := h.tx.Events(card.ID)
	if err != nil {
		return err
	}
	return h.send(Outgoing{Text: h.renderCard(card, events, h.who.Has(RoleCoordinator) || card.Assignee == h.who.ID)})
}

// piiFields are shown only to coordinators and the card's holder.
var piiFields = []string{"name", "phone", "address", "donor_name", "donor_phone", "receipt_name", "receipt_address", "pan", "counterparty", "list_photo", "proof"}

func (h *handling) renderCard(card *store.Card, events []store.Event, pii bool) string {
	var b strings.Builder
	f := h.r.flows.Flow(card.Flow)
	title := card.Flow
	if f != nil {
		title = f.Title.In(h.lang)
	}
	fmt.Fprintf(&b, "%s · %s\n%s: %s", card.ID, title, h.catalog().Get(h.lang, "card_stage"), h.stageTitle(card, h.lang))
	if card.Assignee != 0 {
		if c, err := h.tx.ContactByID(card.Assignee); err == nil {
			fmt.Fprintf(&b, "\n%s: %s", h.catalog().Get(h.lang, "card_holder"), c.Name)
			if !card.LeaseUntil.IsZero() {
				fmt.Fprintf(&b, " (%s %s)", h.catalog().Get(h.lang, "card_until"), h.when(card.LeaseUntil))
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
	b.WriteString("\n" + h.catalog().Get(h.lang, "card_history"))
	for _, e := range events {
		line := fmt.Sprintf("\n  %s %s", h.when(e.At), e.Actor)
		switch {
		case e.From == "" && e.To != "":
			line += ": → " + e.To
		case e.From != e.To:
			line += ": " + e.From + " → " + e.To
		}
		if e.What != "" {
			line += " · " + e.What
		}
		b.WriteString(line)
	}
	return b.String()
}

// boardJobs remind about stale cards and send the digest.
func (r *Runtime) boardJobs() []job {
	return nil
}

package bot

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"sewa/flows"
	"sewa/store"
)

// boardJobs remind about stale cards and send the daily digest. Both run on
// the reminder schedule and decide themselves whether anything is due, so a
// run missed while the bot was down happens at the next one.
func (r *Runtime) boardJobs() []job {
	jobs := []job{{name: "stale reminders", spec: r.reminderSpec(), run: r.remindStale}}
	if _, ok := r.digestTime(time.Time{}); ok {
		jobs = append(jobs, job{name: "daily digest", spec: r.reminderSpec(), run: r.sendDigest})
	}
	return jobs
}

// remindBatch bounds the cards one stage contributes to one run; the next
// run takes the rest.
const remindBatch = 200

// reminderLines bounds the cards listed in one reminder message.
const reminderLines = 15

// stale is one card due a reminder, with what the message says of it.
type stale struct {
	card   *store.Card
	flow   *flows.Flow
	stage  *flows.Stage
	after  time.Duration // the stage's stale_after
	holder *store.Contact
}

// remindStale finds stale cards and reminds their holders, then, a second
// period later (or at once for a card nobody holds), the coordinators. Each
// reminder is recorded with its outbox rows in one transaction, keyed by
// card, stage entry and level, so it is sent once, whatever restarts or
// other processes do. In quiet hours nothing is sent and nothing recorded:
// the next run after them finds the same cards.
func (r *Runtime) remindStale(ctx context.Context, now time.Time) error {
	if r.quiet(now) {
		return nil
	}
	return r.asSystem(ctx, now, func(h *handling) error { return h.remindStale() })
}

func (h *handling) remindStale() error {
	coordinators, err := h.tx.ContactsWithRole(RoleCoordinator)
	if err != nil {
		return err
	}
	var holders []*store.Contact
	byHolder := map[int64][]stale{}
	var escalated []stale
	var errs []error
	h.r.openStages(func(f *flows.Flow, st *flows.Stage) {
		if st.StaleAfter <= 0 || len(errs) > 0 {
			return
		}
		after := time.Duration(st.StaleAfter)
		escalateAt := h.now.Add(-after - h.r.escalateAfter(after))
		cards, err := h.tx.StaleCards(f.ID, st.ID, h.now.Add(-after), escalateAt, remindBatch)
		if err != nil {
			errs = append(errs, err)
			return
		}
		for _, sc := range cards {
			s := stale{card: sc.Card, flow: f, stage: st, after: after}
			if sc.Assignee != 0 {
				k, err := h.tx.ContactByID(sc.Assignee)
				if err != nil && !isNotFound(err) {
					errs = append(errs, err)
					return
				}
				if k != nil && k.Blocked.IsZero() {
					s.holder = k
				}
			}
			if s.holder != nil && !sc.HolderReminded {
				sent, err := h.recordReminder(s, store.RemindHolder)
				if err != nil {
					errs = append(errs, err)
					return
				}
				if sent {
					if _, ok := byHolder[s.holder.ID]; !ok {
						holders = append(holders, s.holder)
					}
					byHolder[s.holder.ID] = append(byHolder[s.holder.ID], s)
				}
			}
			// Coordinators hear of a card nobody holds at once, of a held
			// one a second period later. With no coordinator yet, nothing
			// is recorded: the first one to appear is told.
			if (s.holder == nil || !sc.StageEntered.After(escalateAt)) && len(coordinators) > 0 {
				sent, err := h.recordReminder(s, store.RemindCoordinators)
				if err != nil {
					errs = append(errs, err)
					return
				}
				if sent {
					escalated = append(escalated, s)
				}
			}
		}
	})
	if len(errs) > 0 {
		return errs[0]
	}
	for _, k := range holders {
		if err := h.sendTo(k, Outgoing{Text: h.reminderText(langOf(k, h.r.lang), "remind_holder", "remind_holder_end", byHolder[k.ID])}); err != nil {
			return err
		}
	}
	if len(escalated) == 0 {
		return nil
	}
	sort.SliceStable(escalated, func(i, j int) bool { return escalated[i].card.StageEntered.Before(escalated[j].card.StageEntered) })
	for _, k := range coordinators {
		if err := h.sendTo(k, Outgoing{Text: h.reminderText(langOf(k, h.r.lang), "remind_coordinators", "remind_coordinators_end", escalated)}); err != nil {
			return err
		}
	}
	return nil
}

// recordReminder records a reminder and its line in the card's history; it
// reports false when it was recorded before.
func (h *handling) recordReminder(s stale, level string) (bool, error) {
	r := store.Reminder{Card: s.card.ID, StageEntered: s.card.StageEntered, Level: level, Stage: s.card.Stage, SentAt: h.now}
	what := "stale: coordinators told"
	if level == store.RemindHolder {
		r.Contact = s.holder.ID
		what = "stale: " + personName(s.holder) + " reminded"
	}
	fresh, err := h.tx.RecordReminder(r)
	if err != nil || !fresh {
		return false, err
	}
	h.r.log.Info("stale card reminder", "card", s.card.ID, "stage", s.card.Stage, "level", level)
	h.r.metrics().reminderSent(level)
	return true, h.event(s.card, s.card.Stage, s.card.Stage, what)
}

// reminderText lists stale cards for one reader.
func (h *handling) reminderText(lang, titleKey, endKey string, cards []stale) string {
	c := h.catalog()
	var b strings.Builder
	b.WriteString(c.Get(lang, titleKey, "n", len(cards)))
	for i, s := range cards {
		if i == reminderLines {
			b.WriteString("\n" + c.Get(lang, "remind_more", "n", len(cards)-reminderLines))
			break
		}
		who := c.Get(lang, "remind_nobody")
		if s.holder != nil {
			who = c.Get(lang, "remind_held_by", "name", personName(s.holder))
		} else if s.stage.Role == flows.RoleSystem {
			who = c.Get(lang, "remind_system")
		}
		b.WriteString("\n" + c.Get(lang, "remind_line", "card", s.card.ID, "stage", s.stage.Title.In(lang),
			"age", shortAge(h.now.Sub(s.card.StageEntered)), "after", shortAge(s.after), "who", who))
	}
	b.WriteString("\n" + c.Get(lang, endKey))
	return b.String()
}

// absentAfter is how long someone holding cards may go unseen before the
// digest names them.
const absentAfter = 24 * time.Hour

// digestStale bounds the stale cards the digest names.
const digestStale = 8

// sendDigest sends coordinators the day's digest once its time has come:
// once per day, recorded with its outbox rows, so neither a restart nor a
// second process sends it twice. A digest missed while the bot was down
// goes out when it is back, that same day.
func (r *Runtime) sendDigest(ctx context.Context, now time.Time) error {
	at, ok := r.digestTime(now)
	if !ok || now.Before(at) {
		return nil
	}
	day := r.midnight(now)
	return r.asSystem(ctx, now, func(h *handling) error {
		coordinators, err := h.tx.ContactsWithRole(RoleCoordinator)
		if err != nil || len(coordinators) == 0 {
			return err
		}
		fresh, err := h.tx.MarkDigest(day.Format(time.DateOnly), now)
		if err != nil || !fresh {
			return err
		}
		texts := map[string]string{}
		for _, k := range coordinators {
			lang := langOf(k, h.r.lang)
			if _, ok := texts[lang]; !ok {
				if texts[lang], err = h.digestText(lang, day); err != nil {
					return err
				}
			}
			if err := h.sendTo(k, Outgoing{Text: texts[lang]}); err != nil {
				return err
			}
		}
		return nil
	})
}

// digestText is the digest for the day starting at day: yesterday's
// numbers, what is stale now, who holds cards without being seen, and the
// open cards per flow.
func (h *handling) digestText(lang string, day time.Time) (string, error) {
	c := h.catalog()
	yesterday := day.AddDate(0, 0, -1)
	var b strings.Builder
	b.WriteString(c.Get(lang, "digest_title", "day", day.Format("2 Jan")))
	nums, err := h.dayNumbers(yesterday, day, true)
	if err != nil {
		return "", err
	}
	b.WriteString("\n" + c.Get(lang, "digest_yesterday", "day", yesterday.Format("2 Jan"), "numbers", h.numbersText(lang, nums)))

	stats, err := h.boardStats()
	if err != nil {
		return "", err
	}
	total := 0
	var cards []*store.Card
	for _, s := range stats {
		if s.Stale == 0 {
			continue
		}
		total += s.Stale
		f := h.r.flows.Flow(s.Flow)
		st := f.Stage(s.Stage)
		more, err := h.tx.OldestOpen(s.Flow, s.Stage, h.now.Add(-time.Duration(st.StaleAfter)), digestStale)
		if err != nil {
			return "", err
		}
		cards = append(cards, more...)
	}
	if total == 0 {
		b.WriteString("\n" + c.Get(lang, "digest_none_stale"))
	} else {
		items, err := h.cardAges(cards, digestStale)
		if err != nil {
			return "", err
		}
		line := c.Get(lang, "digest_stale", "n", staleCount(total), "cards", strings.Join(items, " · "))
		if total > len(items) {
			line += " " + c.Get(lang, "remind_more", "n", total-len(items))
		}
		b.WriteString("\n" + line)
	}

	absent, err := h.tx.HeldByAbsent(h.now.Add(-absentAfter))
	if err != nil {
		return "", err
	}
	if len(absent) > 0 {
		var items []string
		for _, a := range absent {
			items = append(items, c.Get(lang, "digest_absent_one", "name", personName(a.Contact), "cards", strings.Join(a.Cards, ", "),
				"seen", h.when(a.Contact.LastSeen)))
		}
		b.WriteString("\n" + c.Get(lang, "digest_absent", "who", strings.Join(items, "; ")))
	}

	var open []string
	for _, g := range h.byFlow(stats) {
		n := 0
		for _, s := range g.stats {
			n += s.Open
		}
		name := g.title
		if g.flow != nil {
			name = g.flow.Title.In(lang)
		}
		open = append(open, fmt.Sprintf("%s %d", name, n))
	}
	b.WriteString("\n" + c.Get(lang, "digest_open", "counts", strings.Join(open, " · ")))
	return b.String(), nil
}

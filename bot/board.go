package bot

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"sewa/flows"
)

// The coordinators' board: /status (board_status.go), /card, /find and the
// coordinators' acts on a card (board_card.go), and the stale-card
// reminders and the daily digest (board_remind.go).

// boardCommands are the coordinators' view of the whole board, and every
// volunteer's view of one card.
func (h *handling) boardCommands() []command {
	coordinators := []string{RoleCoordinator}
	workers := append([]string{RoleCoordinator}, WorkRoles...)
	return []command{
		{name: "status", roles: coordinators, help: "help_status", run: (*handling).cmdStatus},
		{name: "card", roles: workers, help: "help_card", run: (*handling).cmdCard},
		{name: "find", roles: coordinators, help: "help_find", run: (*handling).cmdFind},
		{name: "move", roles: coordinators, help: "help_move", run: (*handling).cmdMove},
		{name: "note", roles: coordinators, help: "help_note", run: (*handling).cmdNote},
		// Not /cancel: that one leaves a conversation.
		{name: "close", roles: coordinators, help: "help_close", run: (*handling).cmdClose},
	}
}

// boardConfig holds the board's settings; its zero value means the defaults.
type boardConfig struct {
	quietSet           bool
	quietFrom, quietTo time.Duration // since local midnight; equal means no quiet hours
	digestOn           bool
	digestAt           time.Duration // since local midnight
	reminderSpec       string
	escalateAfter      time.Duration // 0: the stage's stale_after again
}

// Defaults of the board's settings (DefaultDigestAt is sewa's: a runtime
// sends a digest only when given WithDigestAt).
const (
	DefaultQuietFrom    = "22:00"
	DefaultQuietTo      = "07:00"
	DefaultDigestAt     = "08:00"
	DefaultReminderSpec = "*/5 * * * *"
)

// WithQuietHours sets when stale-card reminders wait, as times of day in the
// runtime's time zone ("22:00", "07:00"); a reminder due then is sent when
// they end. Equal times turn quiet hours off. Default 22:00–07:00. A time
// ParseTimeOfDay refuses leaves the default.
func WithQuietHours(from, to string) Option {
	return func(r *Runtime) {
		f, err1 := ParseTimeOfDay(from)
		t, err2 := ParseTimeOfDay(to)
		if err1 == nil && err2 == nil {
			r.board.quietSet, r.board.quietFrom, r.board.quietTo = true, f, t
		}
	}
}

// WithDigestAt sets when coordinators get the daily digest ("08:00" in the
// runtime's time zone); "off" or "" sends none. Without it a runtime sends
// none; sewa passes SEWA_DIGEST_AT, whose default is DefaultDigestAt.
func WithDigestAt(at string) Option {
	return func(r *Runtime) {
		if s := strings.TrimSpace(strings.ToLower(at)); s == "" || s == "off" {
			r.board.digestOn = false
			return
		}
		if d, err := ParseTimeOfDay(at); err == nil {
			r.board.digestOn, r.board.digestAt = true, d
		}
	}
}

// WithReminderSpec sets the cron schedule of the stale-card scan and the
// digest check (default every 5 minutes).
func WithReminderSpec(spec string) Option {
	return func(r *Runtime) { r.board.reminderSpec = strings.TrimSpace(spec) }
}

// WithEscalateAfter sets how long after reminding a card's holder the
// coordinators are told (default: the stage's stale_after once more).
func WithEscalateAfter(d time.Duration) Option {
	return func(r *Runtime) { r.board.escalateAfter = max(d, 0) }
}

var timeOfDayRE = regexp.MustCompile(`^([01]?\d|2[0-3]):([0-5]\d)$`)

// ParseTimeOfDay reads "07:00" or "7:05" as the time since midnight.
func ParseTimeOfDay(s string) (time.Duration, error) {
	m := timeOfDayRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("%q is not a time of day like 07:00", s)
	}
	h, _ := strconv.Atoi(m[1])
	min, _ := strconv.Atoi(m[2])
	return time.Duration(h)*time.Hour + time.Duration(min)*time.Minute, nil
}

func (r *Runtime) quietHours() (from, to time.Duration) {
	if r.board.quietSet {
		return r.board.quietFrom, r.board.quietTo
	}
	from, _ = ParseTimeOfDay(DefaultQuietFrom)
	to, _ = ParseTimeOfDay(DefaultQuietTo)
	return from, to
}

// quiet reports whether now falls in the quiet hours.
func (r *Runtime) quiet(now time.Time) bool {
	from, to := r.quietHours()
	if from == to {
		return false
	}
	tod := now.Sub(r.midnight(now))
	if from < to {
		return tod >= from && tod < to
	}
	return tod >= from || tod < to // across midnight
}

// midnight is the start of now's day in the runtime's time zone.
func (r *Runtime) midnight(now time.Time) time.Time {
	y, m, d := now.In(r.loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, r.loc)
}

// digestTime is when today's digest is due, and false when there is none.
func (r *Runtime) digestTime(now time.Time) (time.Time, bool) {
	if !r.board.digestOn {
		return time.Time{}, false
	}
	return r.midnight(now).Add(r.board.digestAt), true
}

func (r *Runtime) reminderSpec() string {
	if r.board.reminderSpec != "" {
		return r.board.reminderSpec
	}
	return DefaultReminderSpec
}

// escalateAfter is how long after a card went stale coordinators are told
// about a card someone holds.
func (r *Runtime) escalateAfter(staleAfter time.Duration) time.Duration {
	if r.board.escalateAfter > 0 {
		return r.board.escalateAfter
	}
	return staleAfter
}

// ChannelHealth is what a channel says about its connection, for /status.
// A Channel may report it by having a method Health() ChannelHealth; one
// that does not is shown with what the store knows (the last message
// received, the outbox) and, if it has Connected() bool, that.
type ChannelHealth struct {
	Connected  bool
	LastUpdate time.Time // the last update received from the platform
	Problem    string    // why it is not connected, in a few words: "logged out"
}

type healthReporter interface{ Health() ChannelHealth }

// workStages lists the stages of every flow that hold open cards: all but
// the final ones.
func (r *Runtime) openStages(fn func(f *flows.Flow, st *flows.Stage)) {
	for _, f := range r.flows.Flows {
		for _, st := range f.Stages {
			if !st.Final {
				fn(f, st)
			}
		}
	}
}

// flowByArg finds a flow by what a coordinator typed: its prefix ("R",
// "R-"), id ("request") or the start of its title ("ration").
func (r *Runtime) flowByArg(arg, lang string) *flows.Flow {
	a := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(arg), "-"))
	if a == "" {
		return nil
	}
	for _, f := range r.flows.Flows {
		if a == strings.ToLower(f.Prefix) || a == f.ID {
			return f
		}
	}
	for _, f := range r.flows.Flows {
		if strings.HasPrefix(strings.ToLower(f.Title.In(lang)), a) || strings.HasPrefix(strings.ToLower(f.Title.In("en")), a) {
			return f
		}
	}
	return nil
}

// flowNames lists the flows as "R (request)" for messages.
func (r *Runtime) flowNames() string {
	names := make([]string, len(r.flows.Flows))
	for i, f := range r.flows.Flows {
		names[i] = f.Prefix + " (" + f.ID + ")"
	}
	return strings.Join(names, ", ")
}

var cardIDRE = regexp.MustCompile(`^([A-Za-z]{1,3})-?(\d{1,12})$`)

// cardArg reads a card id as typed: "R-42", "r42".
func parseCardID(s string) string {
	m := cardIDRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return ""
	}
	n, _ := strconv.ParseInt(m[2], 10, 64)
	return strings.ToUpper(m[1]) + "-" + strconv.FormatInt(n, 10)
}

// shortAge writes a duration the way people say it: 45m, 26h, 3d.
func shortAge(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	case d >= time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		return fmt.Sprintf("%dm", max(int(d.Minutes()), 0))
	}
}

// rupees writes an amount in hundredths the Indian way: 1,10,000 or 2,200.50.
func rupees(hundredths int64) string {
	neg := hundredths < 0
	if neg {
		hundredths = -hundredths
	}
	whole, paise := hundredths/100, hundredths%100
	digits := strconv.FormatInt(whole, 10)
	var groups []string
	if len(digits) > 3 {
		head, tail := digits[:len(digits)-3], digits[len(digits)-3:]
		for len(head) > 2 {
			groups = append(groups, head[len(head)-2:])
			head = head[:len(head)-2]
		}
		groups = append(groups, head)
		slices.Reverse(groups)
		digits = strings.Join(groups, ",") + "," + tail
	}
	if paise != 0 {
		digits += fmt.Sprintf(".%02d", paise)
	}
	if neg {
		digits = "-" + digits
	}
	return digits
}

// clip shortens s to n runes with an ellipsis.
func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

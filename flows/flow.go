package flows

import (
	"fmt"
	"strings"
	"time"
)

// Text is one piece of user-facing text in several languages, keyed by
// language code ("en", "hi").
type Text map[string]string

// In returns the text in lang, falling back to English so that a flow file
// with missing translations still works.
func (t Text) In(lang string) string {
	if s, ok := t[lang]; ok && s != "" {
		return s
	}
	return t["en"]
}

// Set is a loaded, checked collection of flows plus the message catalog.
type Set struct {
	Flows   []*Flow
	Catalog Catalog
	byID    map[string]*Flow
	byPref  map[string]*Flow
}

// Flow is one kanban board: cards of one kind moving through stages.
type Flow struct {
	ID     string   `yaml:"id"`
	Prefix string   `yaml:"prefix"`
	Title  Text     `yaml:"title"`
	Intake *Intake  `yaml:"intake"`
	Stages []*Stage `yaml:"stages"`

	keyLines
}

// Intake is the conversation that creates a card of the flow.
type Intake struct {
	Command   string      `yaml:"command"` // "/request" starts it
	Menu      Text        `yaml:"menu"`    // its label in the /start menu
	Roles     []string    `yaml:"roles"`   // who may start it; empty = anyone
	Questions []*Question `yaml:"questions"`
	Done      Text        `yaml:"done"` // told when the card exists; {card} is its id
	To        string      `yaml:"to"`   // the stage the new card enters

	keyLines
}

// Stage is one column of the board. A stage worked by people is a queue.
type Stage struct {
	ID         string      `yaml:"id"`
	Title      Text        `yaml:"title"`
	Role       string      `yaml:"role"` // who works it; "system" for actions, empty for a final stage
	Final      bool        `yaml:"final"`
	StaleAfter Duration    `yaml:"stale_after"`
	Lease      Duration    `yaml:"lease"`
	Guide      Text        `yaml:"guide"`  // what the volunteer must do, for a first-timer
	Status     Text        `yaml:"status"` // the stage in plain words, for the person who asked
	Questions  []*Question `yaml:"questions"`
	Routes     []*Route    `yaml:"routes"`
	OnEnter    []string    `yaml:"on_enter"` // actions run when a card enters

	keyLines
}

// Question is one thing the engine asks and validates.
type Question struct {
	ID       string    `yaml:"id"`
	Ask      Text      `yaml:"ask"`
	Type     string    `yaml:"type"`
	Min      *int      `yaml:"min"`
	Max      *int      `yaml:"max"`
	Optional bool      `yaml:"optional"`
	When     string    `yaml:"when"` // "outcome=approve" or "outcome=a|b": ask only then
	Choices  []*Option `yaml:"choices"`
	Skip     string    `yaml:"skip_if_known"` // a contact fact ("phone") that answers it already
	Suggest  string    `yaml:"suggest"`       // a contact fact ("name") offered as a one-tap answer
	Quick    []string  `yaml:"quick"`         // answers offered as buttons where there are buttons; typing still works

	keyLines
}

// Option is one answer of a choice question.
type Option struct {
	ID    string `yaml:"id"`
	Label Text   `yaml:"label"`
}

// Route says where a card goes once a stage's questions are answered.
type Route struct {
	When   string   `yaml:"when"`
	To     string   `yaml:"to"`
	Do     []string `yaml:"do"`     // actions to run
	Tell   Text     `yaml:"tell"`   // told to the card's requester
	Notify string   `yaml:"notify"` // a role to notify

	keyLines
}

// Question types.
const (
	TypeText   = "text"
	TypeNumber = "number"
	TypePhone  = "phone"
	TypeChoice = "choice"
	TypeYesNo  = "yesno"
	TypePhoto  = "photo"
	TypePlace  = "place"
	TypePAN    = "pan"
)

var questionTypes = []string{TypeText, TypeNumber, TypePhone, TypeChoice, TypeYesNo, TypePhoto, TypePlace, TypePAN}

// RoleSystem marks stages worked by Go actions rather than people.
const RoleSystem = "system"

// Duration is a time.Duration written as "24h" or "30m" in YAML.
type Duration time.Duration

func (d *Duration) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if strings.HasSuffix(s, "d") {
		var n int
		if _, err := fmt.Sscanf(s, "%dd", &n); err != nil {
			return fmt.Errorf("bad duration %q", s)
		}
		*d = Duration(time.Duration(n) * 24 * time.Hour)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("bad duration %q (write e.g. 30m, 24h or 2d)", s)
	}
	*d = Duration(v)
	return nil
}

// Flow returns the flow with the given id, or nil.
func (s *Set) Flow(id string) *Flow { return s.byID[id] }

// FlowOfCard returns the flow whose prefix starts the card id ("R-42"), or nil.
func (s *Set) FlowOfCard(cardID string) *Flow {
	prefix, _, ok := strings.Cut(cardID, "-")
	if !ok {
		return nil
	}
	return s.byPref[strings.ToUpper(prefix)]
}

// Stage returns the stage with the given id, or nil.
func (f *Flow) Stage(id string) *Stage {
	for _, st := range f.Stages {
		if st.ID == id {
			return st
		}
	}
	return nil
}

// StageNames lists the stage ids of f in order, for messages.
func (f *Flow) StageNames() []string {
	names := make([]string, len(f.Stages))
	for i, st := range f.Stages {
		names[i] = st.ID
	}
	return names
}

// matches reports whether a condition like "outcome=approve|rejected" holds
// for answers. An empty condition always holds.
func matches(cond string, answers map[string]string) bool {
	if cond == "" {
		return true
	}
	key, values, ok := strings.Cut(cond, "=")
	if !ok {
		return answers[strings.TrimSpace(cond)] != ""
	}
	got := answers[strings.TrimSpace(key)]
	for _, v := range strings.Split(values, "|") {
		if strings.TrimSpace(v) == got {
			return true
		}
	}
	return false
}

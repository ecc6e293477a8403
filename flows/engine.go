package flows

import (
	"fmt"
	"strings"
	"time"
)

// Session is where one person is in one conversation: the intake of a flow,
// or the work on one stage of one card. It is stored between messages, so a
// restart resumes at the same question.
type Session struct {
	Flow    string            `json:"flow"`
	Stage   string            `json:"stage,omitempty"` // empty during the flow's intake
	Card    string            `json:"card,omitempty"`  // the card a stage conversation works on
	Q       int               `json:"q"`               // index of the question being asked
	Answers map[string]string `json:"answers,omitempty"`
	// Version grows with every question asked, so a press on an old button
	// is recognised and changes nothing.
	Version int `json:"v"`
}

// Active reports whether the session is in a conversation.
func (s Session) Active() bool { return s.Flow != "" }

// Card is what the engine needs of a card.
type Card struct {
	ID     string
	Flow   string
	Stage  string
	Fields map[string]string
}

// Known are facts about the person already on record, which answer
// questions marked skip_if_known.
type Known struct {
	Name, Phone string
}

// Input is one thing a person sent, as the engine sees it.
type Input struct {
	Text     string
	Choice   string // the id of a pressed option
	Photos   []string
	Location *Location
	Phone    string // a shared contact's number
}

// Location is a shared point.
type Location struct{ Lat, Lon float64 }

// Effect is something the caller must do; the engine does nothing itself.
type Effect interface{ effect() }

// Ask puts a question to the person. Problem, when set, says what was wrong
// with the previous answer.
type Ask struct {
	Question *Question
	Problem  *Msg
	Version  int
}

// Reply tells the person something. "{card}" in the text is the card id.
type Reply struct{ Text Text }

// CreateCard makes a new card of Flow in Stage with Fields; later effects
// with an empty card id refer to it.
type CreateCard struct {
	Flow, Stage string
	Fields      map[string]string
}

// Move puts a card into another stage.
type Move struct {
	Card, From, To string
	At             time.Time
}

// Do runs a named action (Go code in the runtime) on a card.
type Do struct{ Action, Card string }

// Tell sends a message to the person who asked for the card.
type Tell struct {
	Card string
	Text Text
}

// Notify tells everyone with Role about the card.
type Notify struct{ Role, Card string }

// Finished ends the conversation.
type Finished struct{}

func (Ask) effect()        {}
func (Reply) effect()      {}
func (CreateCard) effect() {}
func (Move) effect()       {}
func (Do) effect()         {}
func (Tell) effect()       {}
func (Notify) effect()     {}
func (Finished) effect()   {}

// maxAutoMoves stops a cycle of routes in a flow file from hanging the bot.
const maxAutoMoves = 20

// StartIntake begins the intake conversation that creates a card of flowID.
func StartIntake(set *Set, flowID string, known Known) (Session, []Effect, error) {
	f := set.Flow(flowID)
	if f == nil || f.Intake == nil {
		return Session{}, nil, fmt.Errorf("flow %q has no intake", flowID)
	}
	s := Session{Flow: f.ID, Answers: map[string]string{}}
	s, effs := advance(f.Intake.Questions, s, known)
	return s, effs, nil
}

// StartStage begins the work on the current stage of card.
func StartStage(set *Set, card Card, known Known, now time.Time) (Session, []Effect, error) {
	f := set.Flow(card.Flow)
	if f == nil {
		return Session{}, nil, fmt.Errorf("card %s: unknown flow %q", card.ID, card.Flow)
	}
	st := f.Stage(card.Stage)
	if st == nil || st.Final || st.Role == RoleSystem {
		return Session{}, nil, fmt.Errorf("card %s: stage %q is not worked by people", card.ID, card.Stage)
	}
	s := Session{Flow: f.ID, Stage: st.ID, Card: card.ID, Answers: map[string]string{}}
	if len(st.Questions) == 0 {
		// A stage with only routes needs no answer: route straight away.
		_, effs := finishStage(f, st, card, s, now)
		return Session{}, effs, nil
	}
	s, effs := advance(st.Questions, s, known)
	return s, effs, nil
}

// Step applies one input to an active session. A wrong answer is not an
// error: the question comes back with what was wrong, and nothing else
// changes.
func Step(set *Set, card Card, s Session, in Input, known Known, now time.Time) (Card, Session, []Effect) {
	f := set.Flow(s.Flow)
	if f == nil {
		return card, Session{}, []Effect{Reply{Text: set.Catalog.Text("flow_gone")}, Finished{}}
	}
	qs, st := questionsOf(f, s)
	if qs == nil || s.Q >= len(qs) {
		return card, Session{}, []Effect{Reply{Text: set.Catalog.Text("flow_gone")}, Finished{}}
	}
	q := qs[s.Q]
	value, problem := Validate(q, in)
	if problem != nil {
		s.Version++
		return card, s, []Effect{Ask{Question: q, Problem: problem, Version: s.Version}}
	}
	s.Answers = cloneMap(s.Answers)
	s.Answers[q.ID] = value
	s.Q++
	s, effs := advance(qs, s, known)
	if s.Q < len(qs) {
		return card, s, effs
	}
	if st == nil {
		return card, Session{}, finishIntake(f, s, now)
	}
	card, effs = finishStage(f, st, card, s, now)
	return card, Session{}, effs
}

func questionsOf(f *Flow, s Session) ([]*Question, *Stage) {
	if s.Stage == "" {
		if f.Intake == nil {
			return nil, nil
		}
		return f.Intake.Questions, nil
	}
	st := f.Stage(s.Stage)
	if st == nil {
		return nil, nil
	}
	return st.Questions, st
}

// advance moves s to the next question that applies and asks it, skipping
// questions whose condition fails or whose answer is already known.
func advance(qs []*Question, s Session, known Known) (Session, []Effect) {
	for ; s.Q < len(qs); s.Q++ {
		q := qs[s.Q]
		if !matches(q.When, s.Answers) {
			continue
		}
		if v := knownValue(q.Skip, known); v != "" {
			s.Answers = cloneMap(s.Answers)
			s.Answers[q.ID] = v
			continue
		}
		s.Version++
		return s, []Effect{Ask{Question: q, Version: s.Version}}
	}
	return s, nil
}

func knownValue(fact string, k Known) string {
	switch fact {
	case "phone":
		return k.Phone
	case "name":
		return k.Name
	}
	return ""
}

func finishIntake(f *Flow, s Session, now time.Time) []Effect {
	fields := cloneMap(s.Answers)
	effs := []Effect{CreateCard{Flow: f.ID, Stage: f.Intake.To, Fields: fields}}
	effs = append(effs, enter(f, "", f.Intake.To, now)...)
	return append(effs, Reply{Text: f.Intake.Done}, Finished{})
}

func finishStage(f *Flow, st *Stage, card Card, s Session, now time.Time) (Card, []Effect) {
	card.Fields = cloneMap(card.Fields)
	for k, v := range s.Answers {
		card.Fields[k] = v
	}
	var effs []Effect
	for range maxAutoMoves {
		r := pickRoute(st, card.Fields)
		if r == nil {
			// The checker guarantees routes exist; a flow edited under a
			// running conversation may still leave none that matches.
			return card, append(effs, Reply{Text: Text{"en": "This card stays at " + st.ID + ": no route matched."}}, Finished{})
		}
		for _, a := range r.Do {
			effs = append(effs, Do{Action: a, Card: card.ID})
		}
		if len(r.Tell) > 0 {
			effs = append(effs, Tell{Card: card.ID, Text: r.Tell})
		}
		if r.Notify != "" {
			effs = append(effs, Notify{Role: r.Notify, Card: card.ID})
		}
		from := card.Stage
		card.Stage = r.To
		effs = append(effs, Move{Card: card.ID, From: from, To: r.To, At: now})
		effs = append(effs, enter(f, card.ID, r.To, now)...)
		next := f.Stage(r.To)
		// A system stage with only unconditional routes and no actions is a
		// pass-through; keep going. Anything else waits in its queue.
		if next == nil || next.Final || next.Role != RoleSystem || len(next.OnEnter) > 0 || len(next.Questions) > 0 {
			break
		}
		st = next
	}
	return card, append(effs, Finished{})
}

func enter(f *Flow, card, stage string, now time.Time) []Effect {
	st := f.Stage(stage)
	if st == nil {
		return nil
	}
	var effs []Effect
	for _, a := range st.OnEnter {
		effs = append(effs, Do{Action: a, Card: card})
	}
	return effs
}

func pickRoute(st *Stage, fields map[string]string) *Route {
	for _, r := range st.Routes {
		if matches(r.When, fields) {
			return r
		}
	}
	return nil
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Describe renders effects as one line each, in English, for tests and logs.
func Describe(effs []Effect) []string {
	var out []string
	for _, e := range effs {
		switch e := e.(type) {
		case Ask:
			line := "ask " + e.Question.ID
			if e.Problem != nil {
				line += " (" + e.Problem.Key + ")"
			}
			out = append(out, line)
		case Reply:
			out = append(out, "reply "+firstLine(e.Text.In("en")))
		case CreateCard:
			out = append(out, fmt.Sprintf("create %s in %s %s", e.Flow, e.Stage, sortedPairs(e.Fields)))
		case Move:
			out = append(out, fmt.Sprintf("move %s %s → %s", e.Card, e.From, e.To))
		case Do:
			out = append(out, fmt.Sprintf("do %s %s", e.Action, e.Card))
		case Tell:
			out = append(out, fmt.Sprintf("tell requester of %s: %s", e.Card, firstLine(e.Text.In("en"))))
		case Notify:
			out = append(out, fmt.Sprintf("notify %s about %s", e.Role, e.Card))
		case Finished:
			out = append(out, "finished")
		}
	}
	return out
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// Continue routes a card out of a system stage once its action has done
// its work, following the stage's routes as a finished conversation would.
func Continue(set *Set, card Card, now time.Time) (Card, []Effect) {
	f := set.Flow(card.Flow)
	if f == nil {
		return card, nil
	}
	st := f.Stage(card.Stage)
	if st == nil || st.Final {
		return card, nil
	}
	card, effs := finishStage(f, st, card, Session{}, now)
	// Finished ends a person's conversation; a system step has none.
	if n := len(effs); n > 0 {
		if _, ok := effs[n-1].(Finished); ok {
			effs = effs[:n-1]
		}
	}
	return card, effs
}

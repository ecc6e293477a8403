package flows

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

//go:embed flows.yaml messages.yaml
var embedded embed.FS

// DefaultYAML returns the flow file shipped inside the binary.
func DefaultYAML() []byte {
	b, err := embedded.ReadFile("flows.yaml")
	if err != nil {
		panic(err) // embedded at build time: cannot be missing
	}
	return b
}

// Default loads the embedded flows, checked against the given action names.
func Default(actions []string) (*Set, error) { return Load(DefaultYAML(), actions) }

// Problem is one thing wrong with a flow file, with where it is.
type Problem struct {
	Line  int
	Where string // "flow request › stage validate › question kits"
	Msg   string
}

func (p Problem) String() string {
	where := p.Where
	if where != "" {
		where += ": "
	}
	return fmt.Sprintf("line %d: %s%s", p.Line, where, p.Msg)
}

// Problems is the error Load returns: every problem found, in file order.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

type file struct {
	Flows []*Flow `yaml:"flows"`
}

// Load parses and checks a flow file. knownActions are the action names the
// runtime implements; a flow naming any other is refused. The error, when not
// nil, is Problems.
func Load(data []byte, knownActions []string) (*Set, error) {
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&f); err != nil {
		return nil, Problems{yamlProblem(err)}
	}
	cat, err := loadCatalog()
	if err != nil {
		return nil, err
	}
	set := &Set{Flows: f.Flows, Catalog: cat, byID: map[string]*Flow{}, byPref: map[string]*Flow{}}
	c := checker{actions: knownActions}
	c.set(set)
	if len(c.problems) > 0 {
		sort.SliceStable(c.problems, func(i, j int) bool { return c.problems[i].Line < c.problems[j].Line })
		return nil, c.problems
	}
	return set, nil
}

var yamlLine = regexp.MustCompile(`line (\d+): `)

func yamlProblem(err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	p := Problem{Msg: msg}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		fmt.Sscanf(m[1], "%d", &p.Line)
		p.Msg = strings.Replace(msg, m[0], "", 1)
	}
	return p
}

// decodeStrict decodes n into v (a pointer to a struct alias) after refusing
// keys the struct does not have, so a typo in a flow file is reported rather
// than silently ignored.
func decodeStrict(n *yaml.Node, what string, v any, lines *keyLines) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: %s must be a mapping of keys", n.Line, what)
	}
	lines.line = n.Line
	lines.keys = map[string]int{}
	known := map[string]bool{}
	t := reflect.TypeOf(v).Elem()
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); tag != "" && tag != "-" {
			known[tag] = true
		}
	}
	for i := 0; i < len(n.Content); i += 2 {
		k := n.Content[i]
		lines.keys[k.Value] = k.Line
		if !known[k.Value] {
			names := make([]string, 0, len(known))
			for name := range known {
				names = append(names, name)
			}
			sort.Strings(names)
			return fmt.Errorf("line %d: unknown key %q in %s (known: %s)", k.Line, k.Value, what, strings.Join(names, ", "))
		}
	}
	return n.Decode(v)
}

func (f *Flow) UnmarshalYAML(n *yaml.Node) error {
	type raw Flow
	return decodeStrict(n, "flow", (*raw)(f), &f.keyLines)
}

func (in *Intake) UnmarshalYAML(n *yaml.Node) error {
	type raw Intake
	return decodeStrict(n, "intake", (*raw)(in), &in.keyLines)
}

func (s *Stage) UnmarshalYAML(n *yaml.Node) error {
	type raw Stage
	return decodeStrict(n, "stage", (*raw)(s), &s.keyLines)
}

func (q *Question) UnmarshalYAML(n *yaml.Node) error {
	type raw Question
	return decodeStrict(n, "question", (*raw)(q), &q.keyLines)
}

func (r *Route) UnmarshalYAML(n *yaml.Node) error {
	type raw Route
	return decodeStrict(n, "route", (*raw)(r), &r.keyLines)
}

// keyLines remembers where a mapping and each of its keys were, so a
// problem points at the line to edit.
type keyLines struct {
	line int
	keys map[string]int
}

// at returns the line of key, or of the mapping when the key is absent.
func (k keyLines) at(key string) int {
	if l, ok := k.keys[key]; ok {
		return l
	}
	return k.line
}

type checker struct {
	actions  []string
	problems Problems
}

func (c *checker) add(line int, where, format string, args ...any) {
	c.problems = append(c.problems, Problem{Line: line, Where: where, Msg: fmt.Sprintf(format, args...)})
}

var prefixRE = regexp.MustCompile(`^[A-Z]{1,3}$`)
var idRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

func (c *checker) set(s *Set) {
	if len(s.Flows) == 0 {
		c.add(1, "", "no flows: the file needs a top-level \"flows:\" list")
	}
	for _, f := range s.Flows {
		if f == nil {
			continue
		}
		where := "flow " + f.ID
		switch {
		case !idRE.MatchString(f.ID):
			c.add(f.line, where, "id %q must be lower-case letters, digits or _", f.ID)
		case s.byID[f.ID] != nil:
			c.add(f.line, where, "id %q is used by another flow", f.ID)
		default:
			s.byID[f.ID] = f
		}
		switch {
		case !prefixRE.MatchString(f.Prefix):
			c.add(f.line, where, "prefix %q must be 1 to 3 capital letters (card ids look like R-42)", f.Prefix)
		case s.byPref[f.Prefix] != nil:
			c.add(f.line, where, "prefix %q is used by flow %s", f.Prefix, s.byPref[f.Prefix].ID)
		default:
			s.byPref[f.Prefix] = f
		}
		c.text(f.line, where, "title", f.Title)
		c.flow(f, where)
	}
}

func (c *checker) text(line int, where, what string, t Text) {
	if strings.TrimSpace(t["en"]) == "" {
		c.add(line, where, "%s needs English text (en:)", what)
	}
}

func (c *checker) flow(f *Flow, where string) {
	if len(f.Stages) == 0 {
		c.add(f.line, where, "has no stages")
		return
	}
	seen := map[string]bool{}
	finals := 0
	for _, st := range f.Stages {
		if st == nil {
			continue
		}
		sw := where + " › stage " + st.ID
		if !idRE.MatchString(st.ID) {
			c.add(st.line, sw, "id %q must be lower-case letters, digits or _", st.ID)
		}
		if seen[st.ID] {
			c.add(st.line, sw, "stage %q appears twice", st.ID)
		}
		seen[st.ID] = true
		c.text(st.line, sw, "title", st.Title)
		if st.Final {
			finals++
			if len(st.Routes) > 0 || len(st.Questions) > 0 {
				c.add(st.line, sw, "a final stage has no questions or routes")
			}
			continue
		}
		if st.Role == "" {
			c.add(st.line, sw, "needs a role (who works it) or final: true")
		}
		if st.Role != RoleSystem && st.Role != "" {
			c.text(st.line, sw, "guide", st.Guide)
		}
		if st.StaleAfter < 0 || st.Lease < 0 {
			c.add(st.line, sw, "durations cannot be negative")
		}
		if len(st.Routes) == 0 {
			c.add(st.line, sw, "has no routes: say where the card goes next (or final: true)")
		}
		c.questions(st.line, sw, st.Questions)
		c.actionNames(st.at("on_enter"), sw, st.OnEnter)
	}
	if finals == 0 {
		c.add(f.line, where, "needs at least one stage with final: true")
	}
	for _, st := range f.Stages {
		if st == nil {
			continue
		}
		sw := where + " › stage " + st.ID
		for i, r := range st.Routes {
			rw := fmt.Sprintf("%s › route %d", sw, i+1)
			if !seen[r.To] {
				c.add(r.at("to"), rw, "goes to unknown stage %q (stages: %s)", r.To, strings.Join(f.StageNames(), ", "))
			}
			c.condition(r.at("when"), rw, r.When, st.Questions, len(st.Questions))
			c.actionNames(r.at("do"), rw, r.Do)
			if len(r.Tell) > 0 {
				c.text(r.line, rw, "tell", r.Tell)
			}
		}
	}
	if in := f.Intake; in != nil {
		iw := where + " › intake"
		if !seen[in.To] {
			c.add(in.line, iw, "goes to unknown stage %q (stages: %s)", in.To, strings.Join(f.StageNames(), ", "))
		}
		if in.Command != "" && !idRE.MatchString(in.Command) {
			c.add(in.line, iw, "command %q must be a lower-case word (without /)", in.Command)
		}
		c.text(in.line, iw, "done", in.Done)
		c.text(in.line, iw, "menu", in.Menu)
		if len(in.Questions) == 0 {
			c.add(in.line, iw, "has no questions")
		}
		c.questions(in.line, iw, in.Questions)
	}
}

func (c *checker) actionNames(line int, where string, names []string) {
	for _, a := range names {
		if !slices.Contains(c.actions, a) {
			c.add(line, where, "unknown action %q (known: %s)", a, strings.Join(c.actions, ", "))
		}
	}
}

func (c *checker) questions(line int, where string, qs []*Question) {
	seen := map[string]bool{}
	for i, q := range qs {
		if q == nil {
			c.add(line, where, "question %d is empty", i+1)
			continue
		}
		qw := where + " › question " + q.ID
		if !idRE.MatchString(q.ID) {
			c.add(q.line, qw, "id %q must be lower-case letters, digits or _", q.ID)
		}
		if seen[q.ID] {
			c.add(q.line, qw, "question %q appears twice", q.ID)
		}
		seen[q.ID] = true
		c.text(q.line, qw, "ask", q.Ask)
		if !slices.Contains(questionTypes, q.Type) {
			c.add(q.at("type"), qw, "unknown type %q (types: %s)", q.Type, strings.Join(questionTypes, ", "))
		}
		if q.Type == TypeChoice {
			if len(q.Choices) < 2 {
				c.add(q.line, qw, "a choice needs at least 2 choices")
			}
			ids := map[string]bool{}
			for _, o := range q.Choices {
				if o == nil || !idRE.MatchString(o.ID) || ids[o.ID] {
					c.add(q.line, qw, "each choice needs a unique lower-case id")
					continue
				}
				ids[o.ID] = true
				c.text(q.line, qw, "choice "+o.ID, o.Label)
			}
		} else if len(q.Choices) > 0 {
			c.add(q.line, qw, "only a choice question has choices")
		}
		if q.Min != nil && q.Max != nil && *q.Min > *q.Max {
			c.add(q.at("min"), qw, "min %d is more than max %d", *q.Min, *q.Max)
		}
		if (q.Min != nil || q.Max != nil) && q.Type != TypeNumber && slices.Contains(questionTypes, q.Type) {
			c.add(q.line, qw, "min and max apply to number questions only")
		}
		if q.Suggest != "" && q.Suggest != "name" {
			c.add(q.at("suggest"), qw, "suggest can be name, not %q", q.Suggest)
		}
		for _, v := range q.Quick {
			if _, problem := Validate(q, Input{Text: v}); problem != nil && q.Type != TypeChoice && slices.Contains(questionTypes, q.Type) {
				c.add(q.at("quick"), qw, "quick answer %q is not a valid answer (%s)", v, problem.Key)
			}
		}
		if q.Skip != "" && q.Skip != "phone" && q.Skip != "name" {
			c.add(q.line, qw, "skip_if_known can be phone or name, not %q", q.Skip)
		}
		c.condition(q.at("when"), qw, q.When, qs, i)
	}
}

// condition checks that "key=v1|v2" names a question asked before (index <
// before) and, for choices, only values it offers.
func (c *checker) condition(line int, where, cond string, qs []*Question, before int) {
	if cond == "" {
		return
	}
	key, values, hasValue := strings.Cut(cond, "=")
	key = strings.TrimSpace(key)
	var q *Question
	for _, earlier := range qs[:before] {
		if earlier != nil && earlier.ID == key {
			q = earlier
		}
	}
	if q == nil {
		c.add(line, where, "condition %q names no earlier question", cond)
		return
	}
	if !hasValue {
		return
	}
	for _, v := range strings.Split(values, "|") {
		v = strings.TrimSpace(v)
		switch q.Type {
		case TypeChoice:
			if !slices.ContainsFunc(q.Choices, func(o *Option) bool { return o != nil && o.ID == v }) {
				c.add(line, where, "condition %q: %q is not a choice of %s", cond, v, key)
			}
		case TypeYesNo:
			if v != "yes" && v != "no" {
				c.add(line, where, "condition %q: a yes/no answer is yes or no", cond)
			}
		}
	}
}

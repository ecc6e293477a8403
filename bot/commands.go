package bot

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"sewa/flows"
	"sewa/store"
)

// Roles. A volunteer has one or more of the work roles; a coordinator may do
// everything.
const (
	RoleCoordinator = "coordinator"
	RoleCaller      = "caller"
	RoleLogistics   = "logistics"
	RoleTreasurer   = "treasurer"
	RoleOutreach    = "outreach"
)

// WorkRoles are the roles a volunteer can be given.
var WorkRoles = []string{RoleCaller, RoleLogistics, RoleTreasurer, RoleOutreach}

const consoleChannel = "console"

// command is one slash command: who may use it and what it does.
type command struct {
	name  string
	roles []string // any of these; empty means everyone
	help  string   // catalog key of its one-line description
	run   func(h *handling, args string) error
}

// commands lists every command in the order /help shows them. Each area
// of the bot keeps its own commands in its own file.
func (h *handling) commands() []command {
	return slices.Concat(h.coreCommands(), h.workCommands(), h.boardCommands(), h.moneyCommands(), h.webCommands(), h.requestCommands())
}

// coreCommands are everyone's. Intake commands (/request, /volunteer) come
// from the flows.
func (h *handling) coreCommands() []command {
	cmds := []command{
		{name: "start", help: "help_start", run: func(h *handling, _ string) error { return h.showMenu(false) }},
		{name: "help", help: "help_help", run: func(h *handling, _ string) error { return h.cmdHelp() }},
	}
	for _, f := range h.r.flows.Flows {
		if f.Intake == nil || f.Intake.Command == "" {
			continue
		}
		id := f.ID
		cmds = append(cmds, command{name: f.Intake.Command, roles: f.Intake.Roles, help: "",
			run: func(h *handling, _ string) error { return h.startIntake(id) }})
	}
	return append(cmds,
		command{name: "mystatus", help: "help_mystatus", run: (*handling).cmdMyStatus},
		command{name: "cancel", help: "help_cancel", run: func(h *handling, _ string) error { return h.cmdCancel() }},
		command{name: "lang", help: "help_lang", run: (*handling).cmdLang},
	)
}

func (h *handling) may(c command) bool {
	if len(c.roles) == 0 || h.who.Has(RoleCoordinator) {
		return true
	}
	return slices.ContainsFunc(c.roles, h.who.Has)
}

func (h *handling) command(name, args string) error {
	for _, c := range h.commands() {
		if c.name != name {
			continue
		}
		if !h.may(c) {
			return h.say("refused", "command", "/"+name, "who", h.rolesText(c.roles))
		}
		return c.run(h, args)
	}
	if err := h.say("unknown_command", "command", "/"+name); err != nil {
		return err
	}
	return h.cmdHelp()
}

func (h *handling) rolesText(roles []string) string {
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = h.catalog().Get(h.lang, "role_"+r)
	}
	return strings.Join(names, ", ")
}

func (h *handling) cmdHelp() error {
	var b strings.Builder
	b.WriteString(h.catalog().Get(h.lang, "help_title"))
	for _, c := range h.commands() {
		if !h.may(c) {
			continue
		}
		desc := ""
		if c.help != "" {
			desc = h.catalog().Get(h.lang, c.help)
		} else if f := h.intakeFlow(c.name); f != nil {
			desc = f.Intake.Menu.In(h.lang)
		}
		fmt.Fprintf(&b, "\n/%s — %s", c.name, desc)
	}
	return h.send(Outgoing{Text: b.String()})
}

func (h *handling) intakeFlow(command string) *flows.Flow {
	for _, f := range h.r.flows.Flows {
		if f.Intake != nil && f.Intake.Command == command {
			return f
		}
	}
	return nil
}

// menuEntry ids: a flow id starts its intake; "mystatus" shows requests.
const menuStatus = "mystatus"

// showMenu opens the /start menu. greet says hello first, for someone who
// wrote without a command.
func (h *handling) showMenu(greet bool) error {
	if h.st.Active() {
		// Mid-conversation, a stray "hi" is answered by repeating the question.
		return h.step(h.input(""))
	}
	h.st.Version++
	h.st.Menu = nil
	out := Outgoing{Text: h.catalog().Get(h.lang, "menu", "name", firstName(h.who.Name))}
	if greet {
		out.Text = h.catalog().Get(h.lang, "welcome") + "\n" + out.Text
	}
	for _, f := range h.r.flows.Flows {
		if f.Intake == nil || !h.may(command{roles: f.Intake.Roles}) {
			continue
		}
		h.st.Menu = append(h.st.Menu, f.ID)
		out.Choices = append(out.Choices, Choice{Data: fmt.Sprintf("v%d:%s", h.st.Version, f.ID), Label: f.Intake.Menu.In(h.lang)})
	}
	h.st.Menu = append(h.st.Menu, menuStatus)
	out.Choices = append(out.Choices, Choice{Data: fmt.Sprintf("v%d:%s", h.st.Version, menuStatus), Label: h.catalog().Get(h.lang, "menu_status")})
	return h.send(out)
}

func firstName(name string) string {
	f, _, _ := strings.Cut(strings.TrimSpace(name), " ")
	return f
}

// menuPick answers the open menu by id (a press), number or label.
func (h *handling) menuPick(answer string) error {
	answer = strings.TrimSpace(answer)
	pick := ""
	if n, err := strconv.Atoi(strings.TrimSuffix(answer, ".")); err == nil && n >= 1 && n <= len(h.st.Menu) {
		pick = h.st.Menu[n-1]
	}
	for _, id := range h.st.Menu {
		if pick != "" {
			break
		}
		if strings.EqualFold(answer, id) || strings.EqualFold(answer, h.menuLabel(id)) {
			pick = id
		}
	}
	if pick == "" {
		return h.showMenu(false)
	}
	h.st.Menu = nil
	if pick == menuStatus {
		return h.cmdMyStatus("")
	}
	return h.startIntake(pick)
}

func (h *handling) menuLabel(id string) string {
	if id == menuStatus {
		return h.catalog().Get(h.lang, "menu_status")
	}
	if f := h.r.flows.Flow(id); f != nil && f.Intake != nil {
		return f.Intake.Menu.In(h.lang)
	}
	return id
}

func (h *handling) startIntake(flowID string) error {
	f := h.r.flows.Flow(flowID)
	if f == nil || f.Intake == nil {
		return fmt.Errorf("start %q: %w", flowID, errNoFlow)
	}
	if !h.who.Has(RoleCoordinator) {
		open, err := h.tx.OpenCardsOf(h.who.ID, f.ID)
		if err != nil {
			return err
		}
		if len(open) > 0 {
			h.st = state{Session: flows.Session{Version: h.st.Version}}
			return h.say("already_open", "card", open[0].ID, "stage", h.stageStatus(open[0]))
		}
	}
	sess, effs, err := flows.StartIntake(h.r.flows, f.ID, h.known())
	if err != nil {
		return err
	}
	return h.begin(sess, effs, nil)
}

func (h *handling) cmdCancel() error {
	if !h.st.Active() && len(h.st.Menu) == 0 {
		return h.say("nothing_to_cancel")
	}
	h.st = state{Session: flows.Session{Version: h.st.Version}}
	return h.say("cancelled")
}

func (h *handling) cmdLang(args string) error {
	lang := strings.ToLower(strings.TrimSpace(args))
	switch lang {
	case "hindi", "हिंदी", "हिन्दी":
		lang = "hi"
	case "english", "अंग्रेज़ी":
		lang = "en"
	}
	if !slices.Contains(flows.Languages, lang) {
		return h.say("lang_usage", "langs", strings.Join(flows.Languages, ", "))
	}
	h.who.Lang = lang
	h.lang = lang
	if err := h.tx.SaveContact(h.who); err != nil {
		return err
	}
	if err := h.say("lang_set"); err != nil {
		return err
	}
	if h.st.Active() {
		return h.step(flows.Input{}) // the question again, in the new language
	}
	return nil
}

func (h *handling) cmdMyStatus(string) error {
	cards, err := h.tx.CardsOf(h.who.ID, 5)
	if err != nil {
		return err
	}
	if len(cards) == 0 {
		return h.say("mystatus_none")
	}
	var b strings.Builder
	b.WriteString(h.catalog().Get(h.lang, "mystatus_title"))
	for _, c := range cards {
		status := h.stageStatus(c)
		if !c.Open && !h.isFinal(c) {
			status = h.catalog().Get(h.lang, "mystatus_closed") // closed by a coordinator mid-way
		}
		fmt.Fprintf(&b, "\n%s: %s (%s)", c.ID, status, h.when(c.StageEntered))
	}
	return h.send(Outgoing{Text: b.String()})
}

// isFinal reports whether the card is in a final stage of its flow.
func (h *handling) isFinal(c *store.Card) bool {
	if f := h.r.flows.Flow(c.Flow); f != nil {
		if st := f.Stage(c.Stage); st != nil {
			return st.Final
		}
	}
	return false
}

func (h *handling) when(t time.Time) string {
	return t.In(h.r.loc).Format("2 Jan 15:04")
}

package bot

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"sewa/flows"
	"sewa/store"
)

// state is what is stored per person between messages: the engine's session
// plus the open /start menu, if any.
type state struct {
	flows.Session
	Menu []string `json:"menu,omitempty"` // entries of the open menu, in order
}

// handling is the work one inbound message causes, inside its transaction.
type handling struct {
	r       *Runtime
	tx      *store.Tx
	msg     Message
	now     time.Time
	touched map[string]bool

	who   *store.Contact
	st    state
	lang  string
	depth int // actions that route cards that run actions: bounded
}

func (h *handling) run() error {
	if err := h.identify(); err != nil {
		return err
	}
	raw, err := h.tx.Session(h.who.ID)
	if err != nil {
		return err
	}
	if raw != "" {
		if err := json.Unmarshal([]byte(raw), &h.st); err != nil {
			// A session we cannot read must not trap the person: start over.
			h.r.log.Warn("unreadable session dropped", "contact", h.who.Key(), "err", err)
			h.st = state{}
		}
	}
	if err := h.route(); err != nil {
		return err
	}
	return h.saveState()
}

func (h *handling) saveState() error {
	if !h.st.Active() && len(h.st.Menu) == 0 {
		// Keep the version so a press on an old button stays stale.
		if h.st.Version == 0 {
			return h.tx.SaveSession(h.who.ID, "", h.now)
		}
		h.st = state{Session: flows.Session{Version: h.st.Version}}
	}
	b, err := json.Marshal(h.st)
	if err != nil {
		return err
	}
	return h.tx.SaveSession(h.who.ID, string(b), h.now)
}

// identify finds or creates the sender's contact and settles their roles.
func (h *handling) identify() error {
	m := h.msg
	c, err := h.tx.Contact(m.Channel, m.User)
	if errors.Is(err, store.ErrNotFound) {
		c = &store.Contact{Channel: m.Channel, Address: m.User, Name: m.Name, Lang: h.r.lang, Created: h.now}
		if m.Channel == consoleChannel {
			// Whoever first uses the console runs the group.
			n, err := h.tx.CountContacts(m.Channel)
			if err != nil {
				return err
			}
			if n == 0 {
				c.Roles = append(c.Roles, RoleCoordinator)
			}
		}
	} else if err != nil {
		return err
	}
	if h.r.coordinators[strings.ToLower(c.Key())] && !c.Has(RoleCoordinator) {
		c.Roles = append(c.Roles, RoleCoordinator)
	}
	if c.Name == "" {
		c.Name = m.Name
	}
	if ch, ok := h.r.channels[m.Channel]; ok && ch.Caps().AddressIsPhone && c.Phone == "" {
		if p, ok := flows.IndianMobile(m.User); ok {
			c.Phone = p
		}
	}
	if m.Phone != "" {
		if p, ok := flows.IndianMobile(m.Phone); ok && c.Phone == "" {
			c.Phone = p
		}
	}
	c.LastSeen = h.now
	if !c.Blocked.IsZero() && m.At.After(c.Blocked) {
		// Written after we learned of the block: they unblocked us. (A
		// message sent before the block may still arrive after it.)
		c.Blocked = time.Time{}
	}
	if err := h.tx.SaveContact(c); err != nil {
		return err
	}
	h.who = c
	h.lang = c.Lang
	if h.lang == "" {
		h.lang = h.r.lang
	}
	return nil
}

func (h *handling) route() error {
	m := h.msg
	text := strings.TrimSpace(m.Text)
	switch {
	case m.Choice != "":
		return h.press(m.Choice)
	case m.Other != "" && text == "" && len(m.Photos) == 0 && m.Location == nil:
		kind := "kind_" + m.Other
		if _, ok := h.catalog()[kind]; !ok {
			kind = "kind_other"
		}
		return h.say("cannot_use", "kind", h.catalog().Get(h.lang, kind))
	case strings.HasPrefix(text, "/"):
		name, args := parseCommand(text)
		return h.command(name, args)
	case h.isPastedSMS(text): // a treasurer's pasted or forwarded bank SMS: bot/money_sms.go
		return h.pasteSMS(text)
	case h.st.Active():
		return h.step(h.input(""))
	case len(h.st.Menu) > 0:
		return h.menuPick(text)
	case isOneOfFold(text, statusWords):
		return h.cmdMyStatus("")
	}
	if ok, err := h.plainReply(text); ok || err != nil { // bot/requests.go
		return err
	}
	return h.showMenu(true)
}

var statusWords = []string{"status", "my status", "स्थिति", "मेरी स्थिति", "sthiti", "where is my request", "kaha hai"}

func isOneOfFold(s string, words []string) bool {
	s = strings.ToLower(strings.Trim(strings.TrimSpace(s), "?!. "))
	return slices.Contains(words, s)
}

// parseCommand splits "/Card@SewaBot R-1 x" into "card" and "R-1 x".
func parseCommand(text string) (string, string) {
	text = strings.TrimSpace(text)
	word, args := text, ""
	if i := strings.IndexFunc(text, unicode.IsSpace); i >= 0 {
		word, args = text[:i], text[i+1:]
	}
	word = strings.TrimPrefix(word, "/")
	word, _, _ = strings.Cut(word, "@")
	return strings.ToLower(word), strings.TrimSpace(args)
}

func (h *handling) input(choice string) flows.Input {
	in := flows.Input{Text: h.msg.Text, Choice: choice, Photos: h.msg.Photos, Phone: h.msg.Phone}
	if l := h.msg.Location; l != nil {
		in.Location = &flows.Location{Lat: l.Lat, Lon: l.Lon}
	}
	if choice != "" {
		in.Text = ""
	}
	return in
}

// press handles a button: "v7:approve" answers the question asked with
// version 7; any older press changes nothing.
func (h *handling) press(data string) error {
	if strings.HasPrefix(data, offerPress) {
		return h.pressOffer(data)
	}
	v, value, ok := strings.Cut(data, ":")
	var version int
	if ok {
		_, err := fmt.Sscanf(v, "v%d", &version)
		ok = err == nil
	}
	if !ok || version != h.st.Version || (!h.st.Active() && len(h.st.Menu) == 0) {
		return h.say("already_answered")
	}
	if len(h.st.Menu) > 0 {
		return h.menuPick(value)
	}
	if typed, ok := strings.CutPrefix(value, quickAnswer); ok {
		in := h.input("")
		in.Text = typed
		return h.step(in)
	}
	return h.step(h.input(value))
}

func (h *handling) known() flows.Known {
	return flows.Known{Name: h.who.Name, Phone: h.who.Phone}
}

// step feeds one input to the engine and carries out what it says.
func (h *handling) step(in flows.Input) error {
	var card *store.Card
	var ec flows.Card
	if h.st.Card != "" {
		c, err := h.tx.Card(h.st.Card)
		if err != nil {
			return err
		}
		if h.st.Stage != "" && c.Stage != h.st.Stage {
			// Someone moved the card while this person was answering: their
			// answers belong to a stage it has left.
			h.st = state{Session: flows.Session{Version: h.st.Version}}
			return h.say("card_moved_on", "card", c.ID, "stage", h.stageTitle(c, h.lang))
		}
		card = c
		ec = engineCard(c)
	}
	ec2, sess, effs := flows.Step(h.r.flows, ec, h.st.Session, in, h.known(), h.now)
	h.st.Session = sess
	if card != nil {
		card.Fields = ec2.Fields
	}
	return h.apply(effs, card)
}

func engineCard(c *store.Card) flows.Card {
	return flows.Card{ID: c.ID, Flow: c.Flow, Stage: c.Stage, Fields: c.Fields}
}

// begin makes sess the sender's conversation and carries out its first
// effects. Its version continues the old session's (versions only grow, so
// old buttons stay stale), and its questions carry it.
func (h *handling) begin(sess flows.Session, effs []flows.Effect, card *store.Card) error {
	sess.Version += h.st.Version
	for i, e := range effs {
		if a, ok := e.(flows.Ask); ok {
			a.Version = sess.Version
			effs[i] = a
		}
	}
	h.st = state{Session: sess}
	return h.apply(effs, card)
}

// apply carries out engine effects. card is the card they concern, if any;
// CreateCard sets it for the effects after it.
func (h *handling) apply(effs []flows.Effect, card *store.Card) error {
	h.depth++
	defer func() { h.depth-- }()
	if h.depth > 10 {
		return fmt.Errorf("actions routed card %v more than 10 times in one message", cardID(card))
	}
	for _, e := range effs {
		var err error
		switch e := e.(type) {
		case flows.Ask:
			err = h.ask(e)
		case flows.Reply:
			err = h.send(Outgoing{Text: fillCard(e.Text.In(h.lang), card)})
		case flows.CreateCard:
			var dup *store.Card
			dup, err = h.duplicateOf(e)
			if err == nil && dup != nil {
				h.st = state{Session: flows.Session{Version: h.st.Version}}
				return h.say("already_open", "card", dup.ID, "stage", h.stageStatus(dup))
			}
			if err == nil {
				card, err = h.createCard(e)
			}
		case flows.Move:
			err = h.move(card, e.To, "")
		case flows.Do:
			err = h.do(e.Action, card)
		case flows.Tell:
			err = h.tellRequester(card, e.Text)
		case flows.Notify:
			err = h.notifyRole(e.Role, card)
		case flows.Finished:
			h.st = state{Session: flows.Session{Version: h.st.Version}}
		}
		if err != nil {
			return err
		}
	}
	if card != nil && card.ID != "" {
		card.Updated = h.now
		return h.tx.SaveCard(card)
	}
	return nil
}

func cardID(c *store.Card) string {
	if c == nil {
		return "-"
	}
	return c.ID
}

// duplicateOf finds an open card of the same flow for the same phone: the
// same family asking twice gets their open request, not a second one.
func (h *handling) duplicateOf(e flows.CreateCard) (*store.Card, error) {
	if h.who.Has(RoleCoordinator) {
		return nil, nil
	}
	mine, err := h.tx.OpenCardsOf(h.who.ID, e.Flow)
	if err != nil || len(mine) > 0 {
		return first(mine), err
	}
	phone := e.Fields["phone"]
	if phone == "" {
		return nil, nil
	}
	same, err := h.tx.OpenCardsWithPhone(e.Flow, phone)
	return first(same), err
}

func first(cs []*store.Card) *store.Card {
	if len(cs) == 0 {
		return nil
	}
	return cs[0]
}

func (h *handling) createCard(e flows.CreateCard) (*store.Card, error) {
	f := h.r.flows.Flow(e.Flow)
	if f == nil {
		return nil, fmt.Errorf("create card: %w %q", errNoFlow, e.Flow)
	}
	c := &store.Card{Flow: f.ID, Stage: e.Stage, Fields: e.Fields, Requester: h.who.ID,
		Created: h.now, Updated: h.now, StageEntered: h.now}
	if err := h.tx.NewCard(f.Prefix, c); err != nil {
		return nil, err
	}
	h.r.log.Info("card created", "card", c.ID, "stage", c.Stage, "by", h.who.Key())
	return c, errors.Join(h.event(c, "", c.Stage, "created"), h.cardEntered(c, "")) // push: bot/work_offers.go
}

// move puts card into stage, recording who and why.
func (h *handling) move(card *store.Card, to, why string) error {
	if card == nil {
		return errors.New("move without a card")
	}
	f := h.r.flows.Flow(card.Flow)
	st := f.Stage(to)
	if st == nil {
		return fmt.Errorf("card %s: no stage %q", card.ID, to)
	}
	from := card.Stage
	card.Stage = to
	card.StageEntered = h.now
	card.Assignee = 0
	card.LeaseUntil = time.Time{}
	card.Open = !st.Final
	card.Updated = h.now
	if err := h.tx.SaveCard(card); err != nil {
		return err
	}
	return errors.Join(h.event(card, from, to, why), h.cardEntered(card, from)) // push: bot/work_offers.go
}

func (h *handling) event(card *store.Card, from, to, what string) error {
	return h.tx.AddEvent(store.Event{Card: card.ID, At: h.now, Actor: h.actor(), From: from, To: to, What: what})
}

func (h *handling) actor() string {
	if h.who == nil {
		return "system"
	}
	name := h.who.Name
	if name == "" {
		name = h.who.Address
	}
	return h.who.Key() + " " + name
}

func (h *handling) tellRequester(card *store.Card, t flows.Text) error {
	if card == nil || card.Requester == 0 {
		return nil
	}
	c, err := h.tx.ContactByID(card.Requester)
	if err != nil {
		return err
	}
	return h.sendTo(c, Outgoing{Text: fillCard(t.In(langOf(c, h.r.lang)), card)})
}

func (h *handling) notifyRole(role string, card *store.Card) error {
	people, err := h.tx.ContactsWithRole(role)
	if err != nil {
		return err
	}
	for _, p := range people {
		text := h.catalog().Get(langOf(p, h.r.lang), "notify_card", "card", cardID(card), "stage", h.stageTitle(card, langOf(p, h.r.lang)))
		if err := h.sendTo(p, Outgoing{Text: text}); err != nil {
			return err
		}
	}
	return nil
}

func langOf(c *store.Contact, fallback string) string {
	if c.Lang != "" {
		return c.Lang
	}
	return fallback
}

// fillCard replaces {card} and {field} in a flow text with the card's values.
func fillCard(s string, card *store.Card) string {
	if card == nil {
		return s
	}
	args := []any{"card", card.ID, "stage", card.Stage}
	for k, v := range card.Fields {
		args = append(args, k, v)
	}
	return flows.Fill(s, args...)
}

func (h *handling) catalog() flows.Catalog { return h.r.flows.Catalog }

// say sends a catalog message to the sender.
func (h *handling) say(key string, args ...any) error {
	return h.send(Outgoing{Text: h.catalog().Get(h.lang, key, args...)})
}

func (h *handling) send(out Outgoing) error {
	if h.who == nil {
		return errors.New("send without a sender: a system job must use sendTo")
	}
	return h.sendTo(h.who, out)
}

func (h *handling) sendTo(c *store.Contact, out Outgoing) error {
	if !c.Blocked.IsZero() {
		return nil
	}
	h.touched[c.Channel] = true
	return h.r.enqueue(h.tx, c.Channel, c.Address, out, h.now)
}

// ask renders a question with its choices; channels without buttons number
// them, and the engine accepts the number, the label or the press.
func (h *handling) ask(a flows.Ask) error {
	q := a.Question
	text := q.Ask.In(h.lang)
	if a.Problem != nil {
		text = h.catalog().Render(h.lang, *a.Problem) + "\n" + text
	}
	out := Outgoing{Text: text}
	data := func(id string) string { return fmt.Sprintf("v%d:%s", a.Version, id) }
	switch q.Type {
	case flows.TypeChoice:
		for _, o := range q.Choices {
			out.Choices = append(out.Choices, Choice{Data: data(o.ID), Label: o.Label.In(h.lang)})
		}
	case flows.TypeYesNo:
		out.Choices = []Choice{{Data: data("yes"), Label: h.catalog().Get(h.lang, "yes")}, {Data: data("no"), Label: h.catalog().Get(h.lang, "no")}}
	case flows.TypePhone:
		out.AskPhone = true
		out.PhoneLabel = h.catalog().Get(h.lang, "share_phone")
	case flows.TypePlace:
		out.AskLocation = true
		out.LocationLabel = h.catalog().Get(h.lang, "share_location")
	}
	if h.buttons() {
		// One-tap answers only where they are buttons: as a numbered list
		// they would clash with typing the number itself.
		if q.Suggest == "name" && h.who.Name != "" {
			out.Choices = append(out.Choices, Choice{Data: data(quickAnswer + h.who.Name), Label: h.who.Name})
		}
		for _, v := range q.Quick {
			out.Choices = append(out.Choices, Choice{Data: data(quickAnswer + v), Label: v})
		}
	}
	if q.Optional {
		out.Choices = append(out.Choices, Choice{Data: data("skip"), Label: h.catalog().Get(h.lang, "skip")})
	}
	return h.send(out)
}

// quickAnswer marks a button that stands for typing its value.
const quickAnswer = "="

// buttons reports whether the sender's channel shows buttons.
func (h *handling) buttons() bool {
	ch, ok := h.r.channels[h.who.Channel]
	return ok && ch.Caps().Buttons
}

func (h *handling) stageStatus(c *store.Card) string {
	f := h.r.flows.Flow(c.Flow)
	if f == nil {
		return c.Stage
	}
	st := f.Stage(c.Stage)
	if st == nil {
		return c.Stage
	}
	if s := st.Status.In(h.lang); s != "" {
		return s
	}
	return st.Title.In(h.lang)
}

func (h *handling) stageTitle(c *store.Card, lang string) string {
	if c == nil {
		return ""
	}
	if f := h.r.flows.Flow(c.Flow); f != nil {
		if st := f.Stage(c.Stage); st != nil {
			return st.Title.In(lang)
		}
	}
	return c.Stage
}

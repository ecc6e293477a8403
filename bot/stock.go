package bot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"sewa/store"
)

// Stock and allocation. Kits are counted per item and place in the
// append-only ledger (store/stock.go): received, reserved, released,
// delivered and adjusted lines, so every count is a sum anyone can check.
// A request in an allocate stage (one whose on_enter names reserve_stock)
// gets its kits in the order it was validated: each allocation pass walks
// the waiting cards oldest first and reserves for each one that fits, so a
// card that cannot be served now never holds up one behind it that can,
// and a card that left the queue (rejected, closed) is simply not in it.
// A pass runs when a card is validated or enters allocate, when stock is
// added or released, and when the stock job gives back what closed cards
// held.

const (
	// allocateBatch bounds the waiting cards one pass looks at.
	allocateBatch = 200
	// stockLogLines is how many ledger lines /stock log shows; /stock shows
	// the last few.
	stockLogLines   = 20
	stockLastLines  = 5
	stockNoteField  = "stock_note"  // the sentence the validation message ends with; gone once the card is in allocate
	reservedAtField = "reserved_at" // the place the card's kits are kept at
)

// deliveryFields are what picking up and delivering write on a request.
var deliveryFields = []string{"picked", "cannot_reason", "courier", "all_given", "kits_given", "short_reason", "kits_released"}

// kitsOf is how many kits a request was approved for (0 when not a number).
func kitsOf(card *store.Card) int {
	n, err := strconv.Atoi(strings.TrimSpace(card.Fields["kits"]))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// itemOf is the stock item a card's kits are counted in: its kit_item
// field, if a coordinator set one, else "kit".
func itemOf(card *store.Card) string {
	if it := strings.TrimSpace(card.Fields["kit_item"]); it != "" {
		return it
	}
	return KitItem
}

// allocateStages are the stages whose on_enter names reserve_stock: the
// queues where validated requests wait for kits.
func (r *Runtime) allocateStages() []store.StageRef {
	var out []store.StageRef
	for _, f := range r.flows.Flows {
		for _, st := range f.Stages {
			if slices.Contains(st.OnEnter, "reserve_stock") {
				out = append(out, store.StageRef{Flow: f.ID, Stage: st.ID})
			}
		}
	}
	return out
}

// isAllocateStage reports whether card sits in an allocate stage.
func (r *Runtime) isAllocateStage(card *store.Card) bool {
	return slices.Contains(r.allocateStages(), store.StageRef{Flow: card.Flow, Stage: card.Stage})
}

// mayHoldStock reports whether card may hold reserved stock: it is open and
// in an allocate stage or a working stage after it. Anything else (closed,
// rejected, moved back to validation, delivered by hand without a delivery
// record) gives its kits back.
func (r *Runtime) mayHoldStock(card *store.Card) bool {
	f := r.flows.Flow(card.Flow)
	if f == nil {
		return false
	}
	first, at := -1, -1
	for i, st := range f.Stages {
		if first < 0 && slices.Contains(st.OnEnter, "reserve_stock") {
			first = i
		}
		if st.ID == card.Stage {
			at = i
		}
	}
	if first < 0 {
		return true // a flow without allocation: its stock is its own business
	}
	return card.Open && at >= first && !f.Stages[at].Final
}

// reserveStock is the reserve_stock action. Named on the route that
// approves a request it runs before the requester is told: it reserves the
// kits at once if they are free (in turn: older waiting cards first) and
// leaves in {stock_note} whether they are set aside or the request waits.
// Named in on_enter of the allocate stage it moves a card that has its kits
// on, and otherwise leaves it waiting in the queue, telling the requester
// unless the approval message already did.
func reserveStock(h *handling, card *store.Card) error {
	if !h.r.isAllocateStage(card) {
		held, err := h.tx.StockHeld(card.ID)
		if err != nil {
			return err
		}
		got := len(held) > 0
		if !got {
			if got, _, err = h.allocatePass(card); err != nil {
				return err
			}
		}
		card.Fields[stockNoteField] = h.stockNote(card, got)
		return nil
	}
	_, told := card.Fields[stockNoteField]
	delete(card.Fields, stockNoteField)
	// Back from a delivery that could not be made: what that attempt
	// recorded belongs to it, not to the next one.
	for _, k := range deliveryFields {
		delete(card.Fields, k)
	}
	held, err := h.tx.StockHeld(card.ID)
	if err != nil {
		return err
	}
	if len(held) == 0 {
		kits := kitsOf(card)
		if kits <= 0 {
			return h.event(card, card.Stage, card.Stage, "no kit count; waiting for a coordinator")
		}
		got, _, err := h.allocatePass(card)
		if err != nil {
			return err
		}
		if !got {
			if err := h.event(card, card.Stage, card.Stage, fmt.Sprintf("waiting for stock: needs %d %s", kits, itemOf(card))); err != nil {
				return err
			}
			if told {
				return nil
			}
			return h.tellRequesterKey(card, "request_waiting_stock", "card", card.ID, "kits", kits)
		}
	}
	return h.advance(card)
}

// stockNote is the end of the approval message in the requester's language.
func (h *handling) stockNote(card *store.Card, reserved bool) string {
	key := "request_note_waiting"
	if reserved {
		key = "request_note_reserved"
	}
	return " " + h.catalog().Get(h.requesterLang(card), key)
}

// requesterLang is the language of the person who asked for card.
func (h *handling) requesterLang(card *store.Card) string {
	if card.Requester != 0 {
		if c, err := h.tx.ContactByID(card.Requester); err == nil {
			return langOf(c, h.r.lang)
		}
	}
	return h.r.lang
}

// tellRequesterKey tells the person who asked for card a catalog message in
// their language.
func (h *handling) tellRequesterKey(card *store.Card, key string, args ...any) error {
	if card.Requester == 0 {
		return nil
	}
	c, err := h.tx.ContactByID(card.Requester)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return h.tell(c, key, args...)
}

// allocatePass reserves kits for the cards waiting in the allocate queues,
// oldest first (entering, when not nil, is the card being validated or
// entering now: it is in the pass, at its place in the queue or last). Each
// reservation is one conditional insert (store.ReserveStock), so two passes
// at once, in two processes, never promise the same kits. Cards other than
// entering that get their kits are moved on and their requesters told; the
// caller moves entering. It reports whether entering got its kits and which
// cards did.
func (h *handling) allocatePass(entering *store.Card) (bool, []string, error) {
	var queue []*store.Card
	seen := false
	for _, ref := range h.r.allocateStages() {
		cards, err := h.tx.Queue(ref.Flow, ref.Stage, allocateBatch)
		if err != nil {
			return false, nil, err
		}
		for _, c := range cards {
			if entering != nil && c.ID == entering.ID {
				c, seen = entering, true
			}
			queue = append(queue, c)
		}
	}
	if entering != nil && !seen {
		queue = append(queue, entering)
	}
	levels, err := h.tx.StockLevels()
	if err != nil {
		return false, nil, err
	}
	free := map[string]map[string]int{} // item → place → free
	for _, l := range levels {
		if free[l.Item] == nil {
			free[l.Item] = map[string]int{}
		}
		free[l.Item][l.Location] = l.Free()
	}
	got := false
	var done []string
	var moved []*store.Card
	for _, c := range queue {
		need, item := kitsOf(c), itemOf(c)
		if need <= 0 {
			continue
		}
		place, ok := pickPlace(free[item], need, c)
		if !ok {
			continue
		}
		reserved, err := h.tx.ReserveStock(store.StockEntry{At: h.now, Item: item, Location: place, Qty: need, Card: c.ID, Actor: "system"})
		if err != nil {
			return false, nil, err
		}
		if !reserved {
			// Another transaction took the kits first, or the card holds
			// some already (then it only needs moving on).
			held, err := h.tx.StockHeld(c.ID)
			if err != nil {
				return false, nil, err
			}
			if len(held) > 0 && c != entering {
				moved = append(moved, c)
			}
			continue
		}
		free[item][place] -= need
		c.Fields[reservedAtField] = place
		what := fmt.Sprintf("reserved %d %s", need, item)
		if place != "" {
			what += " at " + place
		}
		if err := h.event(c, c.Stage, c.Stage, what); err != nil {
			return false, nil, err
		}
		done = append(done, c.ID)
		if c == entering {
			got = true
			continue
		}
		moved = append(moved, c)
	}
	for _, c := range moved {
		if err := h.tellRequesterKey(c, "request_allocated", "card", c.ID, "kits", kitsOf(c)); err != nil {
			return false, nil, err
		}
		if err := h.advance(c); err != nil {
			return false, nil, fmt.Errorf("%s: %w", c.ID, err)
		}
	}
	return got, done, nil
}

// pickPlace chooses where a card's kits come from: among the places with
// enough free, one its address names (kits from the nearest store), else
// the one with the most free, else the first by name.
func pickPlace(free map[string]int, need int, card *store.Card) (string, bool) {
	var places []string
	for p, n := range free {
		if n >= need {
			places = append(places, p)
		}
	}
	if len(places) == 0 {
		return "", false
	}
	where := strings.ToLower(card.Fields["address"] + " " + card.Fields["area"])
	near := func(p string) bool { return p != "" && strings.Contains(where, strings.ToLower(placeWord(p))) }
	slices.SortFunc(places, func(a, b string) int {
		if na, nb := near(a), near(b); na != nb {
			if na {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(free[b], free[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	return places[0], true
}

// placeWord is the part of a place's name that an address would mention:
// "Okhla store" → "Okhla".
func placeWord(p string) string {
	words := strings.Fields(p)
	if len(words) > 1 {
		switch strings.ToLower(words[len(words)-1]) {
		case "store", "godown", "warehouse", "centre", "center", "office", "hub":
			return strings.Join(words[:len(words)-1], " ")
		}
	}
	return p
}

// stockJob gives back the stock held by cards that can no longer use it
// (closed, rejected, moved back) and, when it did, allocates it to the
// waiting cards; it also forgets receipt questions nobody answered.
func (r *Runtime) stockJob(ctx context.Context, now time.Time) error {
	return r.asSystem(ctx, now, func(h *handling) error {
		if err := h.tx.DropReceiptAsks(now.Add(-receiptQuestionKept)); err != nil {
			return err
		}
		holds, err := h.tx.StockHolds()
		if err != nil {
			return err
		}
		released := 0
		for _, hd := range holds {
			card, err := h.tx.Card(hd.Card)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if card != nil && h.r.mayHoldStock(card) {
				continue
			}
			why := "card gone"
			if card != nil {
				why = card.ID + " no longer needs it (" + card.Stage + ")"
				if !card.Open {
					why = card.ID + " was closed"
				}
			}
			if err := h.tx.AddStock(store.StockEntry{At: now, Item: hd.Item, Location: hd.Location, Kind: store.StockReleased,
				Qty: hd.Qty, Card: hd.Card, Actor: "system", Note: why}); err != nil {
				return err
			}
			released++
			if card != nil {
				if err := h.event(card, card.Stage, card.Stage, fmt.Sprintf("released %d %s back to stock", hd.Qty, hd.Item)); err != nil {
					return err
				}
			}
		}
		if released == 0 {
			return nil
		}
		_, _, err = h.allocatePass(nil)
		return err
	})
}

// cmdStock shows stock to coordinators and logistics volunteers; a
// coordinator records what arrives (/stock add) and corrects the count with
// a reason (/stock adjust).
func (h *handling) cmdStock(args string) error {
	verb, rest, _ := strings.Cut(strings.TrimSpace(args), " ")
	switch strings.ToLower(verb) {
	case "":
		return h.stockReport()
	case "log", "history":
		return h.stockLog(strings.TrimSpace(rest))
	case "add", "received", "in":
		return h.stockChange(rest, false)
	case "adjust", "correct", "fix":
		return h.stockChange(rest, true)
	}
	return h.say("stock_usage")
}

// placeName is how a place is written to people ("" is the one unnamed store).
func (h *handling) placeName(p string) string {
	if p == "" {
		return h.catalog().Get(h.lang, "stock_no_place")
	}
	return p
}

func (h *handling) stockReport() error {
	levels, err := h.tx.StockLevels()
	if err != nil {
		return err
	}
	c := h.catalog()
	var b strings.Builder
	b.WriteString(c.Get(h.lang, "stock_title", "time", h.when(h.now)))
	shown := 0
	for _, l := range levels {
		if l.OnHand == 0 && l.Reserved == 0 {
			continue
		}
		shown++
		b.WriteString("\n" + c.Get(h.lang, "stock_line", "item", l.Item, "place", h.placeName(l.Location),
			"on_hand", l.OnHand, "reserved", l.Reserved, "free", l.Free()))
	}
	if shown == 0 {
		b.WriteString("\n" + c.Get(h.lang, "stock_none"))
	}
	var waiting []string
	kits := 0
	for _, ref := range h.r.allocateStages() {
		cards, err := h.tx.Queue(ref.Flow, ref.Stage, allocateBatch)
		if err != nil {
			return err
		}
		for _, card := range cards {
			waiting = append(waiting, fmt.Sprintf("%s (%d)", card.ID, kitsOf(card)))
			kits += kitsOf(card)
		}
	}
	if len(waiting) > 0 {
		b.WriteString("\n" + c.Get(h.lang, "stock_waiting", "n", len(waiting), "kits", kits, "cards", strings.Join(waiting, ", ")))
	}
	lines, err := h.tx.StockLedger("", "", stockLastLines)
	if err != nil {
		return err
	}
	if len(lines) > 0 {
		b.WriteString("\n" + c.Get(h.lang, "stock_last"))
		for _, e := range lines {
			b.WriteString("\n  " + h.ledgerLine(e))
		}
	}
	if h.who.Has(RoleCoordinator) {
		b.WriteString("\n" + c.Get(h.lang, "stock_how"))
	}
	return h.send(Outgoing{Text: b.String()})
}

func (h *handling) stockLog(args string) error {
	item := ""
	if args != "" {
		item = args
	}
	lines, err := h.tx.StockLedger(item, "", stockLogLines)
	if err != nil {
		return err
	}
	if len(lines) == 0 {
		return h.say("stock_log_none")
	}
	var b strings.Builder
	b.WriteString(h.catalog().Get(h.lang, "stock_log_title", "n", len(lines)))
	for _, e := range lines {
		b.WriteString("\n  " + h.ledgerLine(e))
	}
	return h.send(Outgoing{Text: b.String()})
}

// ledgerLine is one ledger line for people: "2 Apr 10:00 received +50 kit at
// Okhla · organiser · from the Rotary club".
func (h *handling) ledgerLine(e store.StockEntry) string {
	qty := strconv.Itoa(e.Qty)
	if e.Qty > 0 && (e.Kind == store.StockReceived || e.Kind == store.StockAdjusted) {
		qty = "+" + qty
	}
	line := fmt.Sprintf("%s %s %s %s", h.when(e.At), e.Kind, qty, e.Item)
	if e.Location != "" {
		line += " @ " + e.Location
	}
	if e.Card != "" {
		line += " · " + e.Card
	}
	who := e.Actor
	if _, name, ok := strings.Cut(e.Actor, " "); ok && name != "" {
		who = name
	}
	if who != "" {
		line += " · " + who
	}
	if e.Note != "" {
		line += " · " + e.Note
	}
	return line
}

// stockArgs is what /stock add and /stock adjust were told.
type stockArgs struct {
	qty         int
	item, place string
	hasPlace    bool
	note        string
}

// parseStockArgs reads `50 kit "at Okhla" from the Rotary club`, `-3 kit at
// Okhla: torn in the rain` or `20 "rice 5kg" at Jasola store: …`. The item
// is one word (or quoted) and defaults to kit; the place is quoted, or
// follows "at" up to a colon (one word without one); a note follows a
// colon or the item. For an adjustment an unknown item word starts the
// reason instead. It returns the catalog key of what is wrong, if anything.
func parseStockArgs(s string, adjust bool, knownItems []string) (stockArgs, string) {
	var a stockArgs
	head, note, hasNote := cutOutsideQuotes(strings.TrimSpace(s), ':')
	toks := tokens(head)
	if len(toks) == 0 {
		return a, "stock_usage"
	}
	n, err := strconv.Atoi(strings.TrimPrefix(toks[0].text, "+"))
	if err != nil || toks[0].quoted {
		return a, "stock_usage"
	}
	a.qty = n
	if adjust && n == 0 || !adjust && n <= 0 || n > 100000 || n < -100000 {
		return a, "stock_usage"
	}
	toks = toks[1:]
	var rest []string
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t.quoted && !a.hasPlace && (a.item != "" || hasAt(t.text)):
			a.place, a.hasPlace = t.text, true
			if hasAt(t.text) {
				a.place = t.text[3:]
			}
		case !t.quoted && (strings.EqualFold(t.text, "at") || t.text == "@") && !a.hasPlace && i+1 < len(toks):
			a.hasPlace = true
			if hasNote {
				var words []string
				for _, w := range toks[i+1:] {
					words = append(words, w.text)
				}
				a.place = strings.Join(words, " ")
				i = len(toks)
			} else {
				a.place = toks[i+1].text
				i++
			}
		case a.item == "" && !a.hasPlace && len(rest) == 0 && (!adjust || t.quoted || slices.Contains(knownItems, strings.ToLower(t.text))):
			a.item = strings.ToLower(t.text)
		default:
			rest = append(rest, t.text)
		}
	}
	if a.item == "" {
		a.item = KitItem
	}
	a.note = strings.TrimSpace(strings.Join(rest, " "))
	if hasNote {
		a.note = strings.TrimSpace(strings.TrimSpace(a.note + " " + note))
	}
	a.place = strings.TrimSpace(a.place)
	if adjust && a.note == "" {
		return a, "stock_adjust_reason"
	}
	if len([]rune(a.item)) > 40 || len([]rune(a.place)) > 60 {
		return a, "stock_usage"
	}
	a.note = clip(a.note, 200)
	return a, ""
}

// hasAt reports whether a quoted place starts with "at ".
func hasAt(s string) bool { return len(s) > 3 && strings.EqualFold(s[:3], "at ") }

type token struct {
	text   string
	quoted bool
}

// tokens splits s into words, keeping "quoted phrases" (straight or curly
// quotes) as one.
func tokens(s string) []token {
	var out []token
	var cur strings.Builder
	var quote rune
	flush := func(q bool) {
		if cur.Len() > 0 || q {
			out = append(out, token{text: strings.TrimSpace(cur.String()), quoted: q})
			cur.Reset()
		}
	}
	for _, r := range s {
		switch {
		case quote != 0 && (r == quote || quote == '“' && r == '”'):
			flush(true)
			quote = 0
		case quote == 0 && (r == '"' || r == '“'):
			flush(false)
			quote = r
		case quote == 0 && unicode.IsSpace(r):
			flush(false)
		default:
			cur.WriteRune(r)
		}
	}
	flush(quote != 0)
	return out
}

// cutOutsideQuotes cuts s at the first sep that is not inside quotes.
func cutOutsideQuotes(s string, sep rune) (string, string, bool) {
	in := false
	for i, r := range s {
		switch {
		case r == '"' || r == '“' || r == '”':
			in = !in
		case r == sep && !in:
			return s[:i], s[i+len(string(sep)):], true
		}
	}
	return s, "", false
}

// stockChange records stock received (/stock add) or a correction (/stock
// adjust, with a reason), then allocates what became free.
func (h *handling) stockChange(args string, adjust bool) error {
	verb := "/stock add"
	if adjust {
		verb = "/stock adjust"
	}
	if !h.who.Has(RoleCoordinator) {
		return h.say("refused", "command", verb, "who", h.rolesText([]string{RoleCoordinator}))
	}
	levels, err := h.tx.StockLevels()
	if err != nil {
		return err
	}
	var items []string
	for _, l := range levels {
		if !slices.Contains(items, l.Item) {
			items = append(items, l.Item)
		}
	}
	a, problem := parseStockArgs(args, adjust, items)
	if problem != "" {
		return h.say(problem)
	}
	if !a.hasPlace {
		var places []string
		for _, l := range levels {
			if l.Item == a.item || !adjust {
				if !slices.Contains(places, l.Location) {
					places = append(places, l.Location)
				}
			}
		}
		switch len(places) {
		case 0:
		case 1:
			a.place = places[0]
		default:
			names := make([]string, len(places))
			for i, p := range places {
				names[i] = h.placeName(p)
			}
			return h.say("stock_which_place", "places", strings.Join(names, ", "), "qty", a.qty, "item", a.item)
		}
	} else {
		// Write a known place the way it was first written.
		for _, l := range levels {
			if strings.EqualFold(l.Location, a.place) {
				a.place = l.Location
			}
		}
	}
	var before store.StockLevel
	for _, l := range levels {
		if l.Item == a.item && l.Location == a.place {
			before = l
		}
	}
	kind := store.StockReceived
	if adjust {
		kind = store.StockAdjusted
		if !slices.ContainsFunc(levels, func(l store.StockLevel) bool { return l.Item == a.item && l.Location == a.place }) {
			return h.say("stock_unknown", "item", a.item, "place", h.placeName(a.place))
		}
		if before.OnHand+a.qty < 0 {
			return h.say("stock_below_zero", "item", a.item, "place", h.placeName(a.place), "on_hand", before.OnHand)
		}
	}
	if err := h.tx.AddStock(store.StockEntry{At: h.now, Item: a.item, Location: a.place, Kind: kind, Qty: a.qty,
		Actor: h.actor(), Note: a.note}); err != nil {
		return err
	}
	after := before
	after.OnHand += a.qty
	key := "stock_added"
	if adjust {
		key = "stock_adjusted"
	}
	if err := h.say(key, "qty", signed(a.qty), "item", a.item, "place", h.placeName(a.place),
		"on_hand", after.OnHand, "reserved", after.Reserved, "free", after.Free()); err != nil {
		return err
	}
	if after.Reserved > after.OnHand {
		if err := h.say("stock_short", "item", a.item, "place", h.placeName(a.place), "on_hand", after.OnHand, "reserved", after.Reserved); err != nil {
			return err
		}
	}
	if a.qty <= 0 {
		return nil
	}
	_, done, err := h.allocatePass(nil)
	if err != nil || len(done) == 0 {
		return err
	}
	return h.say("stock_allocated", "cards", strings.Join(done, ", "))
}

func signed(n int) string {
	if n > 0 {
		return "+" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

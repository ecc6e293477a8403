package bot

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"sewa/flows"
	"sewa/store"
)

// Action is Go code a flow names for a side effect. It runs inside the
// message's transaction; an error undoes the whole message.
type Action func(h *handling, card *store.Card) error

func defaultActions() map[string]Action {
	return map[string]Action{
		"reserve_stock":   reserveStock,
		"grant_roles":     grantRoles,
		"create_outreach": createOutreach,
		"make_receipt":    makeReceipt,
	}
}

// ActionNames lists the actions a flow file may name.
func ActionNames() []string {
	names := make([]string, 0)
	for name := range defaultActions() {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func (h *handling) do(name string, card *store.Card) error {
	act, ok := h.r.actions[name]
	if !ok {
		return fmt.Errorf("unknown action %q", name)
	}
	if card == nil {
		return fmt.Errorf("action %s without a card", name)
	}
	return act(h, card)
}

// advance routes a card out of a system stage whose action is done.
func (h *handling) advance(card *store.Card) error {
	ec, effs := flows.Continue(h.r.flows, engineCard(card), h.now)
	card.Fields = ec.Fields
	return h.apply(effs, card)
}

// KitItem is the stock item a request's kits are counted in.
const KitItem = "kit"

// reserveStock reserves the card's kits when enough are free and moves it
// on; otherwise the card waits in its queue and nothing else is held up.
func reserveStock(h *handling, card *store.Card) error {
	kits, err := strconv.Atoi(card.Fields["kits"])
	if err != nil || kits <= 0 {
		return h.event(card, card.Stage, card.Stage, "no kit count; waiting for a coordinator")
	}
	levels, err := h.tx.Stock()
	if err != nil {
		return err
	}
	for _, l := range levels {
		if l.Item != KitItem || l.Free() < kits {
			continue
		}
		err := h.tx.AddStock(store.StockEntry{At: h.now, Item: KitItem, Location: l.Location, Kind: store.StockReserved,
			Qty: kits, Card: card.ID, Actor: "system"})
		if err != nil {
			return err
		}
		card.Fields["reserved_at"] = l.Location
		if err := h.event(card, card.Stage, card.Stage, fmt.Sprintf("reserved %d %s", kits, KitItem)); err != nil {
			return err
		}
		return h.advance(card)
	}
	return h.event(card, card.Stage, card.Stage, fmt.Sprintf("waiting for stock: needs %d %s", kits, KitItem))
}

// grantRoles gives an approved volunteer the roles written on their card.
func grantRoles(h *handling, card *store.Card) error {
	if card.Requester == 0 {
		return nil
	}
	c, err := h.tx.ContactByID(card.Requester)
	if err != nil {
		return err
	}
	roles := ParseRoles(card.Fields["roles"])
	for _, r := range roles {
		if !c.Has(r) {
			c.Roles = append(c.Roles, r)
		}
	}
	card.Fields["roles"] = strings.Join(roles, " ")
	if err := h.tx.SaveContact(c); err != nil {
		return err
	}
	return h.event(card, card.Stage, card.Stage, "roles: "+card.Fields["roles"])
}

// ParseRoles picks the work roles out of free text ("calling, delivery").
func ParseRoles(text string) []string {
	synonyms := map[string]string{"call": RoleCaller, "calling": RoleCaller, "caller": RoleCaller, "callers": RoleCaller,
		"delivery": RoleLogistics, "deliveries": RoleLogistics, "logistics": RoleLogistics, "driver": RoleLogistics,
		"treasurer": RoleTreasurer, "donations": RoleTreasurer, "accounts": RoleTreasurer,
		"outreach": RoleOutreach, "social": RoleOutreach, "media": RoleOutreach, "coordinator": RoleCoordinator}
	var out []string
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return r == ',' || r == ' ' || r == ';' || r == '/' || r == '+' || r == '&'
	}) {
		if r, ok := synonyms[w]; ok && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// createOutreach makes an O- card from a delivery, carrying only numbers and
// photos: never names, phones or addresses.
func createOutreach(h *handling, card *store.Card) error {
	f := h.r.flows.Flow("outreach")
	if f == nil || len(f.Stages) == 0 {
		return nil
	}
	o := &store.Card{Flow: f.ID, Stage: f.Stages[0].ID, Created: h.now, Updated: h.now, StageEntered: h.now,
		Fields: map[string]string{"from": card.ID, "kits": card.Fields["kits_given"], "families": card.Fields["families"],
			"photos": card.Fields["proof"]}}
	if err := h.tx.NewCard(f.Prefix, o); err != nil {
		return err
	}
	if err := h.event(o, "", o.Stage, "from "+card.ID); err != nil {
		return err
	}
	if err := h.cardEntered(o, ""); err != nil {
		return err
	}
	return h.event(card, card.Stage, card.Stage, "outreach card "+o.ID)
}

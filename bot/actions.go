package bot

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"sewa/flows"
	"sewa/store"
)

// Action is Go code a flow names for a side effect. It runs inside the
// message's transaction; an error undoes the whole message.
type Action func(h *handling, card *store.Card) error

func defaultActions() map[string]Action {
	return map[string]Action{
		"grant_roles":  grantRoles,
		"make_receipt": makeReceipt, // money_receipt.go
		// Requests (requests.go, stock.go) and outreach posts (outreach.go).
		"reserve_stock":    reserveStock,
		"note_unreachable": noteUnreachable,
		"set_courier":      courierAction(false), // WithShareVolunteerPhone(true) adds the phone
		"settle_delivery":  settleDelivery,
		"create_outreach":  createOutreach,
		"share_post":       sharePost,
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

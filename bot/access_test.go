package bot

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"sewa/flows"
	"sewa/store"
)

// The access matrix: every command × every kind of person, through the real
// router. The commands come from the live list (handling.commands), so a
// command added later is covered at once; the table below says who may use
// each, and a command missing from it fails the test until someone decides.

// Who may use a command.
var (
	everyone    = []string{roleUnknown, roleBeneficiary, RoleCaller, RoleLogistics, RoleTreasurer, RoleOutreach, RoleCoordinator}
	volunteers  = []string{RoleCaller, RoleLogistics, RoleTreasurer, RoleOutreach, RoleCoordinator}
	coordinator = []string{RoleCoordinator}
	treasurer   = []string{RoleTreasurer, RoleCoordinator}
	logistics   = []string{RoleLogistics, RoleCoordinator}
	outreach    = []string{RoleOutreach, RoleCoordinator}
)

const (
	roleUnknown     = "unknown"     // never wrote before
	roleBeneficiary = "beneficiary" // has an open request of their own
)

// accessTable is the decision: who may use each command (coordinators may
// use every one).
var accessTable = map[string][]string{
	"start": everyone, "help": everyone, "request": everyone, "volunteer": everyone,
	"mystatus": everyone, "cancel": everyone, "lang": everyone,

	"next": volunteers, "tasks": volunteers, "take": volunteers, "release": volunteers,
	"accept": volunteers, "pass": volunteers, "pause": volunteers, "resume": volunteers,
	"card": volunteers,

	"approve": coordinator, "decline": coordinator, "volunteers": coordinator, "roles": coordinator,
	"assign": coordinator, "remove": coordinator, "status": coordinator, "find": coordinator,
	"move": coordinator, "note": coordinator, "close": coordinator, "board": coordinator,

	"sms": treasurer, "donations": treasurer, "receipt": treasurer,

	"stock": logistics, "dispatch": logistics, "picked": logistics,

	"blur": outreach, "outreach": outreach,
}

// accessArgs are arguments that would reach the victim's card if the
// command ran.
var accessArgs = map[string]string{
	"card": "R-1", "take": "R-1", "move": "R-1 dispatch", "note": "R-1 checked the address", "close": "R-1 duplicate",
	"assign": "R-1 acc:caller", "find": "Sunita", "approve": "V-1", "decline": "V-1 no", "roles": "acc:caller caller",
	"remove": "acc:caller", "receipt": "D-1", "release": "R-1", "accept": "R-1", "pass": "R-1",
	"dispatch": "R-1", "picked": "R-1", "blur": "O-1", "outreach": "O-1",
}

// The victim's details: no answer to anyone but a coordinator or the
// card's holder may carry them.
var victimPII = []string{"Sunita", "9876543210", "Seelampur"}

type quietChan struct{ name string }

func (q quietChan) Name() string                                 { return q.name }
func (quietChan) Caps() Caps                                     { return Caps{} }
func (quietChan) Receive(ctx context.Context, _ Inbox) error     { <-ctx.Done(); return nil }
func (quietChan) Send(context.Context, Outgoing) (string, error) { return "", nil }

func TestAccessMatrix(t *testing.T) {
	ctx := context.Background()
	set, err := flows.Default(ActionNames())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 4, 2, 10, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	template := filepath.Join(dir, "template.db")
	st, err := store.Open(ctx, template)
	if err != nil {
		t.Fatal(err)
	}
	// Everyone of the matrix, and the victim with an open request R-1.
	err = st.Tx(ctx, func(tx *store.Tx) error {
		victim := &store.Contact{Channel: "acc", Address: "victim", Name: "Sunita Kumari", Phone: "9876543210", Lang: "en", Created: now, LastSeen: now}
		if err := tx.SaveContact(victim); err != nil {
			return err
		}
		card := &store.Card{Flow: "request", Stage: "validate", Requester: victim.ID, Created: now, Updated: now, StageEntered: now,
			Fields: map[string]string{"name": "Sunita Kumari", "phone": "9876543210", "address": "Gali 7, Seelampur", "families": "1", "people": "4"}}
		if err := tx.NewCard("R", card); err != nil {
			return err
		}
		if card.ID != "R-1" {
			t.Fatalf("the victim's card is %s", card.ID)
		}
		return tx.AddEvent(store.Event{Card: card.ID, At: now, Actor: "acc:victim Sunita Kumari", To: "validate", What: "created"})
	})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	base, err := os.ReadFile(template)
	if err != nil {
		t.Fatal(err)
	}

	probe := New(nil, set)
	var names []string
	for _, c := range (&handling{r: probe}).commands() {
		names = append(names, c.name)
		if _, ok := accessTable[c.name]; !ok {
			t.Errorf("/%s has no row in accessTable: decide who may use it (roles in the code: %v)", c.name, c.roles)
		}
	}
	for name := range accessTable {
		if !slices.Contains(names, name) {
			t.Errorf("accessTable names /%s, which is no command any more", name)
		}
	}

	for _, name := range names {
		for _, role := range everyone {
			t.Run(name+"/"+role, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "sewa.db")
				if err := os.WriteFile(path, base, 0o600); err != nil {
					t.Fatal(err)
				}
				st, err := store.Open(ctx, path)
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				rt := New(st, set, WithChannel(quietChan{"acc"}), WithClock(NewFixedClock(now)), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
				who := &store.Contact{Channel: "acc", Address: role, Name: "Person " + role, Lang: "en", Created: now, LastSeen: now}
				switch role {
				case roleUnknown:
					who = nil
				case roleBeneficiary:
					who.Phone = "9811111111"
				default:
					who.Roles = []string{role}
				}
				err = st.Tx(ctx, func(tx *store.Tx) error {
					if who == nil {
						return nil
					}
					if err := tx.SaveContact(who); err != nil {
						return err
					}
					if role != roleBeneficiary {
						return nil
					}
					return tx.NewCard("R", &store.Card{Flow: "request", Stage: "validate", Requester: who.ID, Created: now, Updated: now, StageEntered: now,
						Fields: map[string]string{"name": "Person beneficiary", "phone": "9811111111", "address": "Gali 9"}})
				})
				if err != nil {
					t.Fatal(err)
				}
				text := "/" + name
				if a := accessArgs[name]; a != "" {
					text += " " + a
				}
				msg := Message{Channel: "acc", ExternalID: "m1", User: role, Name: "Person " + role, Text: text}
				if err := rt.Accept(ctx, []Message{msg}, nil); err != nil {
					t.Fatal(err)
				}
				var failed *string
				st.DB().QueryRow(`SELECT failed FROM inbound WHERE external_id = 'm1'`).Scan(&failed)
				if failed != nil {
					t.Fatalf("%s as %s failed: %s", text, role, *failed)
				}
				answers := outboxTo(t, st, role)
				if len(answers) == 0 {
					t.Fatalf("%s as %s: no answer", text, role)
				}
				all := strings.Join(answers, "\n")
				if k := rawKey.FindString(all); k != "" {
					t.Errorf("%s as %s: the answer shows the message key %s instead of its text:\n%s", text, role, k, all)
				}
				refused := strings.Contains(all, " is only for: ")
				if want := slices.Contains(accessTable[name], role); refused == want {
					t.Errorf("%s as %s: allowed %v, want %v; answered:\n%s", text, role, !refused, want, all)
				}
				var holder *int64
				st.DB().QueryRow(`SELECT assignee FROM cards WHERE id = 'R-1'`).Scan(&holder)
				mayKnow := role == RoleCoordinator || !refused && holder != nil && who != nil && *holder == who.ID
				for _, p := range victimPII {
					if strings.Contains(all, p) && !mayKnow {
						t.Errorf("%s as %s: the answer shows the victim's %q:\n%s", text, role, p, all)
					}
				}
			})
		}
	}
}

// rawKey is how the catalog shows a key it has no text for.
var rawKey = regexp.MustCompile(`\[[a-z][a-z0-9]*_[a-z0-9_]+\]`)

// outboxTo returns the texts queued for address, in order, with the labels
// of their choices.
func outboxTo(t *testing.T, st *store.Store, address string) []string {
	t.Helper()
	rows, err := st.DB().Query(`SELECT body FROM outbox WHERE address = ? ORDER BY id`, address)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var body string
		var o Outgoing
		if err := rows.Scan(&body); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(body), &o); err != nil {
			t.Fatal(err)
		}
		text := o.Text
		for _, c := range o.Choices {
			text += " [" + c.Label + "]"
		}
		out = append(out, text)
	}
	return out
}

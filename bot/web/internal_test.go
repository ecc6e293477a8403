package web

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sewa/flows"
	"sewa/store"
)

const testFlows = `
flows:
  - id: request
    prefix: R
    title: {en: Request, hi: अनुरोध}
    stages:
      - id: dispatch
        title: {en: Dispatch, hi: रवाना}
        role: logistics
        stale_after: 24h
        guide: {en: "Pick up the kits.", hi: "किटें उठाएँ।"}
        questions:
          - id: picked
            type: yesno
            ask: {en: "Picked up?", hi: "उठा ली?"}
        routes:
          - to: delivered
      - id: delivered
        title: {en: Delivered, hi: पहुँचा दी}
        final: true
`

type fakeBackend struct{ now time.Time }

func (f fakeBackend) Now() time.Time                      { return f.now }
func (f fakeBackend) IsCoordinator(c *store.Contact) bool { return c.Has("coordinator") }
func (f fakeBackend) MoveCard(context.Context, string, string, string) error {
	return nil
}

// Personal data on a card is for coordinators and the card's holder only;
// anyone else sees "•••" and actors without their chat address.
func TestPersonalDataRule(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "sewa.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 4, 20, 10, 0, 0, 0, time.UTC)
	var holder, other *store.Contact
	err = st.Tx(ctx, func(tx *store.Tx) error {
		holder = &store.Contact{Channel: "tg", Address: "1", Name: "Ravi", Roles: []string{"logistics"}, Created: now, LastSeen: now}
		other = &store.Contact{Channel: "tg", Address: "2", Name: "Kamla", Roles: []string{"caller"}, Created: now, LastSeen: now}
		if err := tx.SaveContact(holder); err != nil {
			return err
		}
		if err := tx.SaveContact(other); err != nil {
			return err
		}
		asha := &store.Contact{Channel: "wa", Address: "919812345678", Name: "Asha Devi", Phone: "9812345678", Created: now, LastSeen: now}
		if err := tx.SaveContact(asha); err != nil {
			return err
		}
		c := &store.Card{Flow: "request", Stage: "dispatch", Assignee: holder.ID, Requester: asha.ID, Created: now, Updated: now, StageEntered: now,
			Fields: map[string]string{"name": "Asha Devi", "phone": "9812345678", "address": "Seelampur", "families": "2"}}
		if err := tx.NewCard("R", c); err != nil {
			return err
		}
		return tx.AddEvent(store.Event{Card: c.ID, At: now, Actor: "wa:919812345678 Asha Devi", To: "validate", What: "created"})
	})
	if err != nil {
		t.Fatal(err)
	}
	set, err := flows.Load([]byte(testFlows), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := New(st, set, fakeBackend{now: now})
	tests := []struct {
		name string
		v    *viewer
		pii  bool
	}{
		{"coordinator", &viewer{contact: other, coordinator: true, lang: "en"}, true},
		{"holder", &viewer{contact: holder, lang: "en"}, true},
		{"anyone else", &viewer{contact: other, lang: "en"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := s.cardPage(httptest.NewRequest("GET", "/board/card/R-1", nil), tt.v, "R-1")
			if err != nil {
				t.Fatal(err)
			}
			var shown []string
			for _, f := range p.Fields {
				shown = append(shown, f.Key+"="+f.Value)
			}
			all := strings.Join(shown, " ") + " " + p.History[0].Actor + " " + p.Requester
			for _, secret := range []string{"Asha Devi", "9812345678", "Seelampur"} {
				if strings.Contains(all, secret) != tt.pii {
					t.Errorf("%q shown = %v, want %v: %s", secret, !tt.pii, tt.pii, all)
				}
			}
			if !strings.Contains(all, "families=2") {
				t.Errorf("numbers must stay visible: %s", all)
			}
		})
	}
}

func TestBarChart(t *testing.T) {
	days := []time.Time{time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 3, 0, 0, 0, 0, time.UTC)}
	c := barChart("x", "X", "things", days, []float64{0, 4, 2}, formatCount)
	if c.Total != "6" || len(c.Bars) != 3 {
		t.Fatalf("%+v", c)
	}
	full := px(chartH - chartTop - chartBottom)
	if c.Bars[1].H != full || c.Bars[2].H != px((chartH-chartTop-chartBottom)/2.0) || c.Bars[0].H != "0.0" {
		t.Errorf("heights %s %s %s, want 0.0, %s and half", c.Bars[0].H, c.Bars[1].H, c.Bars[2].H, full)
	}
	if c.Bars[0].Value != "" || c.Bars[1].Value != "4" || c.Bars[2].Label != "3" || c.Bars[1].Label != "" {
		t.Errorf("labels %+v", c.Bars)
	}
	if !strings.Contains(c.Bars[1].Tip, "Thu 2 Apr: 4 things") {
		t.Errorf("tip %q", c.Bars[1].Tip)
	}
	for _, tt := range []struct {
		v    float64
		want string
	}{{0, "0"}, {999.6, "1000"}, {1500, "1.5k"}, {25000, "25k"}, {250000, "2.5L"}} {
		if got := formatRupees(tt.v); got != tt.want {
			t.Errorf("formatRupees(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

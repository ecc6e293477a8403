package bot_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"sewa/bot"
	"sewa/store"
)

// FuzzRouter sends any text, or any button data, from any kind of person
// through the real router and the real store: handling never fails (no
// error, no panic kept as a failed message) and the sender always gets an
// answer. Conversations carry on between inputs, so the fuzzer also reaches
// the middle of intakes, menus and volunteer work.
//
//	go test -run '^$' -fuzz FuzzRouter -fuzztime 60s ./bot/
func FuzzRouter(f *testing.F) {
	for _, s := range []string{
		"/start", "/help", "/request", "/volunteer", "/mystatus", "/cancel", "/lang hi", "/lang", "/lang klingon",
		"/next", "/tasks", "/take R-1", "/release R-1", "/accept", "/pass", "/pause a week away", "/resume",
		"/status", "/status R", "/card R-1", "/card r1", "/card", "/find Sunita", "/move R-1 dispatch", "/note R-1 x",
		"/close R-1 dup", "/approve V-1", "/decline V-1", "/volunteers", "/roles tg:1 caller", "/assign R-1 tg:1",
		"/remove tg:1", "/sms", "/donations", "/receipt D-1", "/board", "/unknown", "/", "//", "/start@sewa_bot x",
		"/CARD R-1", "/card R-99999999999999999999", "/move R-1", "/note", "hi", "1", "2", "skip", "Asha",
		"9812345678", "+91 98123 45678", "Okhla", "४", "हाँ", "status", "where is my request", "a\xffb", "\x00",
		"", " ", "\n\n", "/card\tR-1", "/card R-1 R-2 R-3", "v1:approve", "v999999999999999999999:x",
	} {
		f.Add(s, "", uint8(0))
		f.Add(s, "", uint8(6))
	}
	for _, c := range []string{"v1:request", "v2:skip", "v0:", ":", "v-1:x", "vv", "v1:mystatus", "v3:approve", "x"} {
		f.Add("", c, uint8(2))
	}
	ctx := context.Background()
	st, set := openStoreAndFlows(f, filepath.Join(f.TempDir(), "sewa.db"))
	defer st.Close()
	now := time.Date(2026, 4, 2, 10, 0, 0, 0, time.UTC)
	clock := bot.NewFixedClock(now)
	rt := bot.New(st, set, bot.WithChannel(&gated{open: closedChan()}), bot.WithClock(clock),
		bot.WithLogger(slog.New(slog.DiscardHandler)), bot.WithCoordinators("gate:coordinator"))
	people := []string{"unknown", "beneficiary", bot.RoleCaller, bot.RoleLogistics, bot.RoleTreasurer, bot.RoleOutreach, "coordinator"}
	err := st.Tx(ctx, func(tx *store.Tx) error {
		for _, p := range people[2:6] {
			if err := tx.SaveContact(&store.Contact{Channel: "gate", Address: p, Name: "Person " + p, Roles: []string{p}, Created: now, LastSeen: now}); err != nil {
				return err
			}
		}
		ben := &store.Contact{Channel: "gate", Address: "beneficiary", Name: "Sunita", Phone: "9876543210", Created: now, LastSeen: now}
		if err := tx.SaveContact(ben); err != nil {
			return err
		}
		return tx.NewCard("R", &store.Card{Flow: "request", Stage: "validate", Requester: ben.ID, Created: now, Updated: now, StageEntered: now,
			Fields: map[string]string{"name": "Sunita", "phone": "9876543210", "address": "Seelampur"}})
	})
	if err != nil {
		f.Fatal(err)
	}
	seq := 0
	f.Fuzz(func(t *testing.T, text, choice string, who uint8) {
		seq++
		user := people[int(who)%len(people)]
		if user == "unknown" {
			user = fmt.Sprint("unknown-", seq%50) // strangers, some of them back again
		}
		clock.Advance(time.Minute)
		var before int
		st.DB().QueryRow(`SELECT count(*) FROM outbox WHERE address = ?`, user).Scan(&before)
		m := bot.Message{Channel: "gate", ExternalID: fmt.Sprint("f", seq), User: user, Name: "Person", Text: text, Choice: choice}
		if err := rt.Accept(ctx, []bot.Message{m}, nil); err != nil {
			t.Fatalf("Accept(%q, %q) as %s: %v", text, choice, user, err)
		}
		var failed *string
		st.DB().QueryRow(`SELECT failed FROM inbound WHERE channel = 'gate' AND external_id = ?`, m.ExternalID).Scan(&failed)
		if failed != nil {
			t.Fatalf("%q (choice %q) as %s failed: %s", text, choice, user, *failed)
		}
		var after int
		st.DB().QueryRow(`SELECT count(*) FROM outbox WHERE address = ?`, user).Scan(&after)
		if after == before {
			t.Fatalf("%q (choice %q) as %s: no answer", text, choice, user)
		}
	})
}

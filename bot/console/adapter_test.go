package console_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"sewa/bot"
	"sewa/bot/console"
)

// recorder is an Inbox that keeps what it is given.
type recorder struct{ got []bot.Message }

func (r *recorder) Accept(_ context.Context, msgs []bot.Message, _ *bot.Cursor) error {
	r.got = append(r.got, msgs...)
	return nil
}

func TestLinesBecomeMessages(t *testing.T) {
	var out bytes.Buffer
	in := strings.NewReader("hello\n/as Asha Devi\n/photo /tmp/list.jpg\n/location 28.53, 77.29\n\n  \n/start\n")
	a := console.New(in, &out, console.WithRunID("r1"))
	rec := &recorder{}
	if err := a.Receive(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	want := []bot.Message{
		{Channel: "console", ExternalID: "r1-1", User: "organiser", Name: "organiser", Text: "hello"},
		{Channel: "console", ExternalID: "r1-2", User: "asha devi", Name: "Asha Devi", Photos: []string{"/tmp/list.jpg"}},
		{Channel: "console", ExternalID: "r1-3", User: "asha devi", Name: "Asha Devi", Location: &bot.Location{Lat: 28.53, Lon: 77.29}},
		{Channel: "console", ExternalID: "r1-4", User: "asha devi", Name: "Asha Devi", Text: "/start"},
	}
	if len(rec.got) != len(want) {
		t.Fatalf("got %d messages, want %d: %+v", len(rec.got), len(want), rec.got)
	}
	for i, m := range rec.got {
		w := want[i]
		if m.ExternalID != w.ExternalID || m.User != w.User || m.Name != w.Name || m.Text != w.Text ||
			strings.Join(m.Photos, ",") != strings.Join(w.Photos, ",") || (m.Location == nil) != (w.Location == nil) ||
			m.Location != nil && *m.Location != *w.Location {
			t.Errorf("message %d = %+v, want %+v", i, m, w)
		}
	}
	if !strings.Contains(out.String(), "(now speaking as Asha Devi)") {
		t.Errorf("no confirmation of /as: %q", out.String())
	}
}

func TestRenderNumbersChoices(t *testing.T) {
	got := console.Render(bot.Outgoing{To: "asha", Text: "Approve?\nThink first.", Choices: []bot.Choice{{Data: "v1:yes", Label: "Yes"}, {Data: "v1:no", Label: "No"}}, Image: "p.jpg"})
	want := "→ asha: Approve?\n    Think first.\n    1. Yes\n    2. No\n    [image: p.jpg]\n"
	if got != want {
		t.Errorf("Render =\n%q\nwant\n%q", got, want)
	}
}

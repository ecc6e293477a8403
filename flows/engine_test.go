package flows_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"sewa/flows"
	"sewa/internal/golden"
)

// actions the default flows name; the runtime's registry is pinned against
// this list in package bot.
var actions = []string{"create_outreach", "grant_roles", "make_receipt", "note_unreachable", "reserve_stock", "set_courier", "settle_delivery", "share_post"}

func mustDefault(t *testing.T) *flows.Set {
	t.Helper()
	set, err := flows.Default(actions)
	if err != nil {
		t.Fatalf("embedded flows do not load: %v", err)
	}
	return set
}

// TestEngineTranscripts runs testdata/engine/*.txt. Lines:
//
//	start 2026-04-02T10:00:00Z intake request    begin an intake
//	start 2026-04-02T10:00:00Z card R-1 request validate   begin stage work
//	known phone=9812345678                         facts about the person
//	> text | > [choice] id | > [photo] path | > [location] 28.5,77.2
//	+26h                                           time passes
//	< …                                            what happened (rewritten by -update)
//
// Between inputs the session and card are encoded and decoded, as the store
// will, so every step survives persistence.
func TestEngineTranscripts(t *testing.T) {
	set := mustDefault(t)
	paths, _ := filepath.Glob("testdata/engine/*.txt")
	if len(paths) == 0 {
		t.Fatal("no engine transcripts")
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			golden.Check(t, path, runEngineTranscript(t, set, path))
		})
	}
}

func runEngineTranscript(t *testing.T, set *flows.Set, path string) string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	var sess flows.Session
	var card flows.Card
	var known flows.Known
	var now time.Time
	emit := func(effs []flows.Effect) {
		for _, line := range flows.Describe(effs) {
			out = append(out, "< "+line)
		}
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "< ") {
			continue // outputs are recomputed
		}
		out = append(out, line)
		fields := strings.Fields(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case fields[0] == "start":
			now, err = time.Parse(time.RFC3339, fields[1])
			if err != nil {
				t.Fatal(err)
			}
			var effs []flows.Effect
			if fields[2] == "intake" {
				sess, effs, err = flows.StartIntake(set, fields[3], known)
			} else {
				card = flows.Card{ID: fields[3], Flow: fields[4], Stage: fields[5], Fields: map[string]string{}}
				sess, effs, err = flows.StartStage(set, card, known, now)
			}
			if err != nil {
				out = append(out, "< error: "+err.Error())
				continue
			}
			emit(effs)
		case fields[0] == "known":
			for _, kv := range fields[1:] {
				k, v, _ := strings.Cut(kv, "=")
				switch k {
				case "phone":
					known.Phone = v
				case "name":
					known.Name = v
				}
			}
		case fields[0] == "field":
			k, v, _ := strings.Cut(strings.TrimPrefix(line, "field "), "=")
			card.Fields[k] = v
		case strings.HasPrefix(line, "+"):
			d, err := time.ParseDuration(line[1:])
			if err != nil {
				t.Fatal(err)
			}
			now = now.Add(d)
		case strings.HasPrefix(line, "> "):
			in := parseInput(strings.TrimPrefix(line, "> "))
			var effs []flows.Effect
			card, sess, effs = flows.Step(set, card, sess, in, known, now)
			card, sess = roundTrip(t, card, sess)
			emit(effs)
			if !sess.Active() {
				out = append(out, "< card "+describeCard(card))
			}
		default:
			t.Fatalf("%s: cannot read %q", path, line)
		}
	}
	return strings.Join(out, "\n") + "\n"
}

func parseInput(s string) flows.Input {
	switch {
	case strings.HasPrefix(s, "[choice] "):
		return flows.Input{Choice: strings.TrimPrefix(s, "[choice] ")}
	case strings.HasPrefix(s, "[photo] "):
		return flows.Input{Photos: strings.Fields(strings.TrimPrefix(s, "[photo] "))}
	case strings.HasPrefix(s, "[location] "):
		lat, lon, _ := strings.Cut(strings.TrimPrefix(s, "[location] "), ",")
		la, _ := strconv.ParseFloat(lat, 64)
		lo, _ := strconv.ParseFloat(lon, 64)
		return flows.Input{Location: &flows.Location{Lat: la, Lon: lo}}
	}
	return flows.Input{Text: s}
}

func roundTrip(t *testing.T, card flows.Card, sess flows.Session) (flows.Card, flows.Session) {
	t.Helper()
	var c2 flows.Card
	var s2 flows.Session
	for _, p := range []struct{ in, out any }{{card, &c2}, {sess, &s2}} {
		b, err := json.Marshal(p.in)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, p.out); err != nil {
			t.Fatal(err)
		}
	}
	return c2, s2
}

func describeCard(c flows.Card) string {
	if c.ID == "" {
		return "(none)"
	}
	keys := make([]string, 0, len(c.Fields))
	for k := range c.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := []string{c.ID, c.Stage}
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%s", k, strings.ReplaceAll(c.Fields[k], "\n", " | ")))
	}
	return strings.Join(parts, " ")
}

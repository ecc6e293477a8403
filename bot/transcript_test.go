package bot_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sewa/bot"
	"sewa/bot/console"
	"sewa/flows"
	"sewa/store"
)

// world is a running Sewa on a real SQLite file in a temp dir, spoken to
// through the console channel, with a clock that moves only when told.
type world struct {
	t       *testing.T
	path    string
	clock   *bot.FixedClock
	opts    []bot.Option
	st      *store.Store
	rt      *bot.Runtime
	con     *console.Adapter
	out     *bytes.Buffer
	speaker string
	runs    int
}

// start is a fixed instant so every run prints the same times.
var start = time.Date(2026, 4, 2, 10, 0, 0, 0, time.UTC)

func newWorld(t *testing.T, opts ...bot.Option) *world {
	t.Helper()
	w := &world{t: t, path: filepath.Join(t.TempDir(), "sewa.db"), clock: bot.NewFixedClock(start), opts: opts}
	w.open()
	t.Cleanup(func() { w.st.Close() })
	return w
}

func (w *world) open() {
	w.t.Helper()
	st, set := openStoreAndFlows(w.t, w.path)
	w.runs++
	w.out = &bytes.Buffer{}
	w.con = console.New(strings.NewReader(""), w.out, console.WithRunID(fmt.Sprint("run", w.runs)))
	w.speaker = console.DefaultSpeaker
	log := slog.New(slog.NewTextHandler(testLog{w.t}, nil))
	opts := append([]bot.Option{bot.WithLogger(log), bot.WithClock(w.clock), bot.WithChannel(w.con), bot.WithLocation(time.UTC)}, w.opts...)
	w.st, w.rt = st, bot.New(st, set, opts...)
}

// openStoreAndFlows opens the store at path and loads the default flows,
// what every runtime is made of. The caller closes the store.
func openStoreAndFlows(t testing.TB, path string) (*store.Store, *flows.Set) {
	t.Helper()
	st, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	set, err := flows.Default(bot.ActionNames())
	if err != nil {
		t.Fatal(err)
	}
	return st, set
}

// testLog sends the runtime's log to the test's log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Helper()
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// restart closes the store and runtime and opens them again, as a process
// restart would.
func (w *world) restart() {
	w.t.Helper()
	if err := w.st.Close(); err != nil {
		w.t.Fatal(err)
	}
	w.open()
}

// say types text as name and returns what the bot printed, line by line.
func (w *world) say(name, text string) []string {
	w.t.Helper()
	ctx := context.Background()
	if name != w.speaker {
		if err := w.con.HandleLine(ctx, w.rt, "/as "+name); err != nil {
			w.t.Fatal(err)
		}
		w.speaker = name
		w.out.Reset()
	}
	if err := w.con.HandleLine(ctx, w.rt, text); err != nil {
		w.t.Fatalf("%s> %s: %v", name, text, err)
	}
	got := strings.Split(strings.TrimRight(w.out.String(), "\n"), "\n")
	w.out.Reset()
	if len(got) == 1 && got[0] == "" {
		return nil
	}
	return got
}

// tick runs every job once at the clock's now and returns what they sent.
func (w *world) tick() []string {
	w.t.Helper()
	ctx := context.Background()
	if err := w.rt.Tick(ctx); err != nil {
		w.t.Fatalf("tick: %v", err)
	}
	if err := w.rt.Flush(ctx, console.Name); err != nil {
		w.t.Fatalf("flush: %v", err)
	}
	out := strings.TrimRight(w.out.String(), "\n")
	w.out.Reset()
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

// A transcript reads like the chat:
//
//	asha> /start                    asha types /start
//	< → asha: What would you like   the next printed line must match this regexp
//	< ...                           any further lines of this reply
//	+26h                            the clock moves on
//	!restart                        the process restarts
//	tick                            every job runs at the clock's now (offers, leases, reminders)
//
// Every printed line must be matched, so an extra message fails the test.
func runTranscript(t *testing.T, w *world, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []string
	var said string
	check := func() {
		if len(got) > 0 {
			t.Errorf("%s: after %q the bot also said:\n%s", path, said, strings.Join(got, "\n"))
		}
	}
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "< "):
			want := strings.TrimPrefix(line, "< ")
			if want == "..." {
				got = nil
				continue
			}
			if len(got) == 0 {
				t.Fatalf("%s:%d: after %q wanted %q, the bot said nothing more", path, n, said, want)
			}
			if !regexp.MustCompile(want).MatchString(got[0]) {
				t.Fatalf("%s:%d: after %q\nwant %q\n got %q", path, n, said, want, got[0])
			}
			got = got[1:]
		case strings.HasPrefix(line, "+"):
			check()
			d, err := time.ParseDuration(line[1:])
			if err != nil {
				t.Fatalf("%s:%d: %v", path, n, err)
			}
			w.clock.Advance(d)
		case line == "!restart":
			check()
			w.restart()
		case line == "tick":
			check()
			said = line
			got = w.tick()
		default:
			check()
			name, text, ok := strings.Cut(line, "> ")
			if !ok {
				t.Fatalf("%s:%d: cannot read %q (want NAME> text, < regexp, +DURATION or !restart)", path, n, line)
			}
			said = line
			got = w.say(name, text)
		}
	}
	check()
}

func TestTranscripts(t *testing.T) {
	paths, err := filepath.Glob("testdata/transcripts/*.txt")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, path := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			runTranscript(t, newWorld(t), path)
		})
	}
}

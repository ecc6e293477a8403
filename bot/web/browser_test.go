package web_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"sewa/store"
)

// chromiumPath is Debian's chromium; .ci/run installs it.
const chromiumPath = "/usr/bin/chromium"

// browser starts headless Chromium with a fresh profile. The flags keep it
// from reaching the network on its own (updates, sync, QUIC) and let it run
// as root in a container.
func browser(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("the browser test needs Chromium at %s: install it with `apt-get install -y chromium` (.ci/run does): %v", chromiumPath, err)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	return bctx
}

// artefacts is where screenshots go: $SEWA_ARTIFACTS when set (CI keeps it),
// else the test's temporary directory.
func artefacts(t *testing.T) string {
	if dir := os.Getenv("SEWA_ARTIFACTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.TempDir()
}

// seedHistory adds two weeks of closed requests and donations, so the
// dashboard's charts have something to show. Closed cards are not on the
// kanban.
func seedHistory(t *testing.T, st *store.Store) {
	t.Helper()
	err := st.Tx(context.Background(), func(tx *store.Tx) error {
		for d := 1; d <= 13; d++ {
			day := start.Add(-time.Duration(d) * 24 * time.Hour)
			for i := range (d*7)%5 + 1 {
				at := day.Add(time.Duration(i) * time.Hour)
				c := &store.Card{Flow: "request", Stage: "delivered", Created: at, Updated: at, StageEntered: at.Add(20 * time.Hour),
					Fields: map[string]string{"name": "Person", "families": "1", "kits": "1", "kits_given": "1", "address": "Seelampur"}}
				if err := tx.NewCard("R", c); err != nil {
					return err
				}
				c.Open = false
				if err := tx.SaveCard(c); err != nil {
					return err
				}
				if err := tx.AddEvent(store.Event{Card: c.ID, At: c.StageEntered, Actor: "tg:501 Ravi Kumar", From: "deliver", To: "delivered"}); err != nil {
					return err
				}
			}
			amount := fmt.Sprintf("%d.00", 500+(d*1300)%4000)
			c := &store.Card{Flow: "donation", Stage: "receipted", Created: day, Updated: day, StageEntered: day, Fields: map[string]string{"amount": amount}}
			if err := tx.NewCard("D", c); err != nil {
				return err
			}
			c.Open = false
			if err := tx.SaveCard(c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// In a real browser: a forged link is refused and the real one signs in;
// the board shows the seeded cards in their stages' columns; moving a card
// from its page moves it, as /status in chat then says.
func TestBrowserBoard(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	e := newEnv(t)
	seedHistory(t, e.st)
	b := browser(t, ctx)
	link := e.link()
	dir := artefacts(t)
	shot := func(name string, width, height int64, mobile bool) {
		t.Helper()
		opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
		if mobile {
			opts = append(opts, chromedp.EmulateMobile, chromedp.EmulatePortrait)
		}
		if err := chromedp.Do(b, chromedp.EmulateViewport(width, height, opts...)); err != nil {
			t.Fatal(err)
		}
		png, err := chromedp.Run(b, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot %s (%d bytes)", path, len(png))
	}

	// A forged link: 401 and the page says how to get a real one.
	resp, err := chromedp.Run(b, chromedp.NavigateResponse(tamper(link)))
	if err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(b, chromedp.Text(chromedp.CSS("main")))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 401 || !strings.Contains(text, "Send /board to Sewa") {
		t.Fatalf("forged link: %d\n%s", resp.Status, text)
	}
	if resp, err := chromedp.Run(b, chromedp.NavigateResponse(e.srv.URL+"/board/cards")); err != nil || resp.Status != 401 {
		t.Fatalf("the board before signing in: %v, %v", resp, err)
	}

	// The real link: a session, and the dashboard.
	resp, err = chromedp.Run(b, chromedp.NavigateResponse(link))
	if err != nil {
		t.Fatal(err)
	}
	loc, _ := chromedp.Run(b, chromedp.Location())
	h1, _ := chromedp.Run(b, chromedp.Text(chromedp.CSS("h1")))
	if resp.Status != 200 || loc != e.srv.URL+"/board" || !strings.HasPrefix(h1, "Dashboard") {
		t.Fatalf("sign-in: %d at %s, h1 %q", resp.Status, loc, h1)
	}
	shot("dashboard-laptop.png", 1280, 900, false)

	// The kanban: each open card in its stage's column.
	if err := chromedp.Do(b, chromedp.Navigate(e.srv.URL+"/board/cards?flow=request")); err != nil {
		t.Fatal(err)
	}
	columns, err := chromedp.Run(b, chromedp.Evaluate[map[string][]string](`Object.fromEntries([...document.querySelectorAll("section.column")]
		.map(s => [s.dataset.stage, [...s.querySelectorAll("a.card")].map(a => a.dataset.card)]))`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"validate": {"R-2", "R-1"}, "allocate": {}, "dispatch": {"R-3"}, "deliver": {"R-4"}, "delivered": {}, "rejected": {}}
	if len(columns) != len(want) {
		t.Errorf("columns %v, want %v", columns, want)
	}
	for stage, ids := range want {
		if !slices.Equal(columns[stage], ids) {
			t.Errorf("column %s shows %v, want %v", stage, columns[stage], ids)
		}
	}
	stale, _ := chromedp.Run(b, chromedp.Evaluate[[]string](`[...document.querySelectorAll("a.card.is-stale")].map(a => a.dataset.card)`))
	if !slices.Equal(stale, []string{"R-2"}) {
		t.Errorf("stale cards %v, want [R-2]", stale)
	}
	shot("board-laptop.png", 1280, 720, false)
	shot("board-phone.png", 390, 844, true)
	// On a phone nothing is wider than the screen.
	overflow, _ := chromedp.Run(b, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
	if overflow > 390 {
		t.Errorf("the board is %dpx wide on a 390px phone", overflow)
	}
	if err := chromedp.Do(b, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}

	// Move R-2 from its page to allocate: kits are reserved and it goes on
	// to dispatch, as after a caller's approval.
	if err := chromedp.Do(b,
		chromedp.Click(chromedp.CSS(`a.card[data-card="R-2"]`)),
		chromedp.WaitVisible(chromedp.CSS("#move-stage")),
		chromedp.SetValue(chromedp.CSS("#move-stage"), "allocate"),
		chromedp.Click(chromedp.CSS("#move-button")),
		chromedp.WaitVisible(chromedp.CSS(".flash.ok")),
	); err != nil {
		t.Fatal(err)
	}
	stage, _ := chromedp.Run(b, chromedp.Text(chromedp.CSS(".stage")))
	history, _ := chromedp.Run(b, chromedp.Text(chromedp.CSS(".history")))
	if stage != "Dispatch" || !strings.Contains(history, "validate → allocate") || !strings.Contains(history, "reserved 2 kit") {
		t.Errorf("after the move: stage %q, history:\n%s", stage, history)
	}
	shot("card-phone.png", 390, 844, true)
	status := e.say("organiser", "/status")
	if !regexp.MustCompile(`validate 1\b.*dispatch 2\b`).MatchString(status) {
		t.Errorf("/status after moving R-2 on the board:\n%s", status)
	}
}

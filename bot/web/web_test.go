package web_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sewa/bot"
	"sewa/bot/console"
	"sewa/bot/web"
	"sewa/flows"
	"sewa/store"
)

// start is the seeded board's "now".
var start = time.Date(2026, 4, 20, 10, 0, 0, 0, time.UTC)

// env is a running Sewa on a seeded SQLite file, its HTTP handler served on
// loopback, and a console to ask it things in chat.
type env struct {
	t     *testing.T
	path  string
	st    *store.Store
	rt    *bot.Runtime
	clock *bot.FixedClock
	srv   *httptest.Server
	con   *console.Adapter
	out   *bytes.Buffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, path: filepath.Join(t.TempDir(), "sewa.db"), clock: bot.NewFixedClock(start), out: &bytes.Buffer{}}
	st, err := store.Open(context.Background(), e.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.st = st
	seed(t, st)
	set, err := flows.Default(bot.ActionNames())
	if err != nil {
		t.Fatal(err)
	}
	e.con = console.New(strings.NewReader(""), e.out, console.WithRunID("web"))
	e.srv = httptest.NewUnstartedServer(nil)
	log := slog.New(slog.NewTextHandler(testLog{t}, nil))
	e.rt = bot.New(st, set, bot.WithClock(e.clock), bot.WithChannel(e.con), bot.WithLocation(time.UTC), bot.WithLogger(log),
		bot.WithPublicURL("http://"+e.srv.Listener.Addr().String()))
	e.srv.Config.Handler = e.rt.Handler()
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	return e
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Helper()
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// The seeded people. Their names, phones and PANs must never reach the
// open-data export.
var (
	seedNames  = []string{"Asha Devi", "Farida Begum", "Meena Kumari", "Ravi Kumar", "Rohit Sharma"}
	seedPhones = []string{"9812345678", "9123456780", "9988776655", "9876501234"}
	seedPANs   = []string{"ABCDE1234F"}
)

// seed writes a small board: requests in every stage (one stale, one held),
// a donation, a volunteer application and some stock. The organiser on the
// console is a coordinator.
func seed(t *testing.T, st *store.Store) {
	t.Helper()
	ago := func(d time.Duration) time.Time { return start.Add(-d) }
	err := st.Tx(context.Background(), func(tx *store.Tx) error {
		contact := func(ch, addr, name, phone string, roles ...string) *store.Contact {
			c := &store.Contact{Channel: ch, Address: addr, Name: name, Phone: phone, Roles: roles, Lang: "en", Created: ago(100 * time.Hour), LastSeen: ago(time.Hour)}
			if err := tx.SaveContact(c); err != nil {
				t.Fatal(err)
			}
			return c
		}
		contact("console", "organiser", "Organiser", "", "coordinator")
		ravi := contact("tg", "501", "Ravi Kumar", "9876501234", "logistics")
		contact("tg", "502", "Kamla", "", "caller")
		asha := contact("wa", "919812345678", "Asha Devi", "9812345678")
		farida := contact("wa", "919123456780", "Farida Begum", "9123456780")
		meena := contact("wa", "919988776655", "Meena Kumari", "9988776655")
		card := func(prefix, flow, stage string, requester *store.Contact, entered time.Duration, fields map[string]string) *store.Card {
			c := &store.Card{Flow: flow, Stage: stage, Fields: fields, Created: ago(entered + 2*time.Hour), Updated: ago(entered), StageEntered: ago(entered)}
			if requester != nil {
				c.Requester = requester.ID
			}
			if err := tx.NewCard(prefix, c); err != nil {
				t.Fatal(err)
			}
			if err := tx.AddEvent(store.Event{Card: c.ID, At: c.Created, Actor: "system", To: stage, What: "created"}); err != nil {
				t.Fatal(err)
			}
			return c
		}
		req := func(name, phone, address string) map[string]string {
			return map[string]string{"name": name, "phone": phone, "address": address, "families": "2", "people": "9"}
		}
		card("R", "request", "validate", asha, 2*time.Hour, req("Asha Devi", "9812345678", "Seelampur, Gali 4, H.No 112"))
		r2 := req("Farida Begum", "9123456780", "Okhla Phase 2, B-44")
		r2["kits"] = "2"
		card("R", "request", "validate", farida, 30*time.Hour, r2)                                                 // stale (validate goes stale after 24h)
		r3 := card("R", "request", "dispatch", meena, 3*time.Hour, req("Meena Kumari", "9988776655", "Seelampur")) // held by Ravi
		r3.Fields["kits"] = "1"
		r3.Assignee, r3.LeaseUntil = ravi.ID, start.Add(time.Hour)
		if err := tx.SaveCard(r3); err != nil {
			t.Fatal(err)
		}
		card("R", "request", "deliver", nil, time.Hour, req("Suresh", "9000012345", "Sangam Vihar"))
		card("D", "donation", "identify", nil, 5*time.Hour, map[string]string{"amount": "1100.00", "bank": "SBI", "date": "2026-04-19",
			"counterparty": "rohit@okaxis", "donor_name": "Rohit Sharma", "pan": "ABCDE1234F"}) // D-1
		card("V", "volunteer", "review", nil, 50*time.Hour, map[string]string{"name": "Kamla", "area": "Jamia Nagar", "skills": "calling"}) // V-1
		return tx.AddStock(store.StockEntry{At: ago(48 * time.Hour), Item: "kit", Location: "Okhla store", Kind: store.StockReceived, Qty: 10, Actor: "console:organiser"})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// say types text on the console as name and returns what the bot answered.
func (e *env) say(name, text string) string {
	e.t.Helper()
	ctx := context.Background()
	e.out.Reset()
	if err := e.con.HandleLine(ctx, e.rt, "/as "+name); err != nil {
		e.t.Fatal(err)
	}
	if err := e.con.HandleLine(ctx, e.rt, text); err != nil {
		e.t.Fatal(err)
	}
	return e.out.String()
}

// link gets a sign-in link the way a coordinator does: /board in chat.
func (e *env) link() string {
	e.t.Helper()
	out := e.say("organiser", "/board")
	m := regexp.MustCompile(`http://\S+/board/signin\?t=\S+`).FindString(out)
	if m == "" {
		e.t.Fatalf("/board sent no link:\n%s", out)
	}
	return m
}

// client is a browser-like client: it keeps cookies and does not follow
// redirects, so each answer can be looked at.
func (e *env) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// signedIn returns a client with a session.
func (e *env) signedIn() *http.Client {
	e.t.Helper()
	c := e.client()
	resp, _ := get(e.t, c, e.link())
	if resp.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("sign-in: %s", resp.Status)
	}
	return c
}

func tamper(link string) string {
	i := strings.LastIndex(link, ".") + 5
	b := []byte(link)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func TestSignIn(t *testing.T) {
	e := newEnv(t)
	link := e.link()
	u, _ := url.Parse(link)
	tok := u.Query().Get("t")
	session := strings.Replace(tok, "l.", "s.", 1)
	tests := []struct {
		name string
		url  string
		want int
	}{
		{"no token", e.srv.URL + "/board/signin", http.StatusUnauthorized},
		{"garbage", e.srv.URL + "/board/signin?t=hello", http.StatusUnauthorized},
		{"forged mac", tamper(link), http.StatusUnauthorized},
		{"another contact", strings.Replace(link, "t=l.1.", "t=l.2.", 1), http.StatusUnauthorized},
		{"longer expiry", regexp.MustCompile(`t=l\.1\.\d+\.`).ReplaceAllString(link, "t=l.1.9999999999."), http.StatusUnauthorized},
		{"a session token as link", e.srv.URL + web.SignInPath + session, http.StatusUnauthorized},
		{"the link", link, http.StatusSeeOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.client()
			resp, body := get(t, c, tt.url)
			if resp.StatusCode != tt.want {
				t.Fatalf("%s: %s, want %d", tt.url, resp.Status, tt.want)
			}
			if tt.want == http.StatusUnauthorized {
				if !strings.Contains(body, "<code>/board</code>") || resp.Header.Get("Set-Cookie") != "" {
					t.Errorf("401 page does not say how to get a link, or set a cookie:\n%s", body)
				}
				return
			}
			ck := resp.Header.Get("Set-Cookie")
			for _, want := range []string{"sewa_board=s.", "HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"} {
				if !strings.Contains(ck, want) {
					t.Errorf("cookie %q lacks %q", ck, want)
				}
			}
			if strings.Contains(ck, "Secure") {
				t.Errorf("cookie %q is Secure over plain http: the browser would drop it", ck)
			}
			if loc := resp.Header.Get("Location"); loc != "/board" {
				t.Errorf("redirect to %q", loc)
			}
			resp, body = get(t, c, e.srv.URL+"/board")
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Dashboard") {
				t.Errorf("board after sign-in: %s\n%s", resp.Status, body)
			}
		})
	}
}

func TestSecureCookieBehindHTTPS(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequest("GET", e.link(), nil)
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err := e.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ck := resp.Header.Get("Set-Cookie"); !strings.Contains(ck, "; Secure") {
		t.Errorf("cookie behind https is not Secure: %q", ck)
	}
	if resp.Header.Get("Strict-Transport-Security") == "" {
		t.Error("no HSTS behind https")
	}
}

// Every page needs a session; an expired or revoked one is refused.
func TestSessionsExpireAndAreRevoked(t *testing.T) {
	pages := []string{"/board", "/board/", "/board/cards?flow=request", "/board/card/R-1", "/export.zip"}
	t.Run("no cookie", func(t *testing.T) {
		e := newEnv(t)
		for _, p := range pages {
			if resp, _ := get(t, e.client(), e.srv.URL+p); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s without a session: %s", p, resp.Status)
			}
		}
	})
	t.Run("expired", func(t *testing.T) {
		e := newEnv(t)
		c := e.signedIn()
		e.clock.Advance(web.LinkTTL - time.Minute)
		if resp, _ := get(t, c, e.srv.URL+"/board"); resp.StatusCode != http.StatusOK {
			t.Fatalf("a session 11h59m old: %s", resp.Status)
		}
		e.clock.Advance(time.Minute)
		for _, p := range pages {
			if resp, _ := get(t, c, e.srv.URL+p); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s after 12h: %s", p, resp.Status)
			}
		}
	})
	t.Run("link expired", func(t *testing.T) {
		e := newEnv(t)
		link := e.link()
		e.clock.Advance(web.LinkTTL)
		if resp, _ := get(t, e.client(), link); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("a 12h old link: %s", resp.Status)
		}
	})
	t.Run("revoked", func(t *testing.T) {
		e := newEnv(t)
		c := e.signedIn()
		old := e.link()
		if out := e.say("organiser", "/board revoke"); !strings.Contains(out, "no longer works") {
			t.Fatalf("/board revoke said:\n%s", out)
		}
		if resp, _ := get(t, c, e.srv.URL+"/board"); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("session after revoke: %s", resp.Status)
		}
		if resp, _ := get(t, e.client(), old); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("link after revoke: %s", resp.Status)
		}
		if resp, _ := get(t, e.client(), e.link()); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("a new link after revoke: %s", resp.Status)
		}
	})
	t.Run("no longer a coordinator", func(t *testing.T) {
		e := newEnv(t)
		c := e.signedIn()
		e.st.DB().Exec(`UPDATE contacts SET roles = '' WHERE address = 'organiser'`)
		if resp, _ := get(t, c, e.srv.URL+"/board"); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("session of a former coordinator: %s", resp.Status)
		}
	})
}

func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t)
	c := e.signedIn()
	for _, p := range []string{"/board", "/board/cards", "/board/card/R-1", "/board/nothing", "/board/static/style.css", "/board/signin?t=x"} {
		resp, _ := get(t, c, e.srv.URL+p)
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "script-src 'none'") || strings.Contains(csp, "unsafe-inline") ||
			!strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", p, csp)
		}
		if h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: headers %v", p, h)
		}
	}
	// No inline script, inline style or event handler in any page.
	for _, p := range []string{"/board", "/board/cards?flow=request", "/board/card/R-1"} {
		_, body := get(t, c, e.srv.URL+p)
		for _, bad := range []string{"<script", "style=", " onclick", " onload", "javascript:"} {
			if strings.Contains(body, bad) {
				t.Errorf("%s contains %q", p, bad)
			}
		}
	}
}

// The kanban shows each card in its stage's column, with its age, holder
// and stale marker, and the filters narrow it.
func TestKanban(t *testing.T) {
	e := newEnv(t)
	c := e.signedIn()
	column := func(body, stage string) string {
		i := strings.Index(body, `id="col-`+stage+`"`)
		if i < 0 {
			t.Fatalf("no column %s", stage)
		}
		rest := body[i:]
		if j := strings.Index(rest[1:], `<section class="column`); j >= 0 {
			rest = rest[:j+1]
		}
		return rest
	}
	_, body := get(t, c, e.srv.URL+"/board/cards?flow=request")
	for stage, want := range map[string][]string{
		"validate": {`data-card="R-1"`, `data-card="R-2"`, "30h", "stale", "Okhla Phase 2"},
		"dispatch": {`data-card="R-3"`, "Ravi Kumar", "3h"},
		"deliver":  {`data-card="R-4"`},
		"allocate": {`<span class="count">0</span>`},
	} {
		col := column(body, stage)
		for _, w := range want {
			if !strings.Contains(col, w) {
				t.Errorf("column %s lacks %q:\n%s", stage, w, col)
			}
		}
	}
	if strings.Contains(column(body, "validate"), "R-3") || strings.Count(body, "is-stale") != 1 {
		t.Errorf("wrong card in a column, or not exactly one stale card")
	}
	tests := []struct {
		query      string
		want, miss []string
	}{
		{"stale=1", []string{"R-2"}, []string{"R-1", "R-3", "R-4"}},
		{"holder=none", []string{"R-1", "R-2", "R-4"}, []string{"R-3"}},
		{"area=Seelampur", []string{"R-1", "R-3"}, []string{"R-2", "R-4"}},
		{"area=Seelampur&holder=none", []string{"R-1"}, []string{"R-2", "R-3", "R-4"}},
	}
	for _, tt := range tests {
		_, body := get(t, c, e.srv.URL+"/board/cards?flow=request&"+tt.query)
		for _, w := range tt.want {
			if !strings.Contains(body, `data-card="`+w+`"`) {
				t.Errorf("%s: %s missing", tt.query, w)
			}
		}
		for _, m := range tt.miss {
			if strings.Contains(body, `data-card="`+m+`"`) {
				t.Errorf("%s: %s shown", tt.query, m)
			}
		}
	}
	_, body = get(t, c, e.srv.URL+"/board/cards?flow=donation")
	if !strings.Contains(column(body, "identify"), `data-card="D-1"`) {
		t.Error("donation flow: D-1 not in identify")
	}
	if resp, _ := get(t, c, e.srv.URL+"/board/cards?flow=nope"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown flow: %s", resp.Status)
	}
}

func TestDashboard(t *testing.T) {
	e := newEnv(t)
	c := e.signedIn()
	resp, body := get(t, c, e.srv.URL+"/board")
	if resp.StatusCode != http.StatusOK {
		t.Fatal(resp.Status)
	}
	for _, want := range []string{
		"<b>4</b> open", // requests
		`<span class="stale">1 stale</span>`,
		`id="chart-requests"`, `id="chart-deliveries"`, `id="chart-donations"`,
		"<svg", `class="bar"`, "Okhla store", `action="/export.zip"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
}

// A card's page shows its fields (personal data to coordinators) and its
// history; the move form is protected against cross-site requests and moves
// the card with the same rules as chat.
func TestCardPageAndMove(t *testing.T) {
	e := newEnv(t)
	c := e.signedIn()
	_, body := get(t, c, e.srv.URL+"/board/card/r-2")
	for _, want := range []string{"R-2", "Farida Begum", "9123456780", "Okhla Phase 2, B-44", "stale", "created", `name="csrf"`} {
		if !strings.Contains(body, want) {
			t.Errorf("card page lacks %q", want)
		}
	}
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)[1]
	post := func(c *http.Client, card string, form url.Values) (*http.Response, string) {
		resp, err := c.PostForm(e.srv.URL+"/board/card/"+card+"/move", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	stage := func(id string) string {
		var s string
		e.st.DB().QueryRow(`SELECT stage FROM cards WHERE id = ?`, id).Scan(&s)
		return s
	}
	other := e.signedIn() // another session of the same coordinator has another token
	_, otherBody := get(t, other, e.srv.URL+"/board/card/R-2")
	otherCSRF := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(otherBody)[1]
	changed := "x" + csrf[1:]
	if csrf[0] == 'x' { // the token is random: make sure the change is one
		changed = "y" + csrf[1:]
	}
	for name, form := range map[string]url.Values{
		"no token":                    {"stage": {"rejected"}},
		"empty token":                 {"stage": {"rejected"}, "csrf": {""}},
		"another session's token":     {"stage": {"rejected"}, "csrf": {otherCSRF}},
		"a token with a changed char": {"stage": {"rejected"}, "csrf": {changed}},
	} {
		if resp, _ := post(c, "R-2", form); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %s, want 403", name, resp.Status)
		}
	}
	if resp, _ := post(e.client(), "R-2", url.Values{"stage": {"rejected"}, "csrf": {csrf}}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("move without a session: %s", resp.Status)
	}
	if s := stage("R-2"); s != "validate" {
		t.Fatalf("a refused move moved R-2 to %s", s)
	}
	resp, body := post(c, "R-2", url.Values{"stage": {"nowhere"}, "csrf": {csrf}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "no stage") {
		t.Errorf("unknown stage: %s\n%s", resp.Status, body)
	}
	if resp, _ := post(c, "R-99", url.Values{"stage": {"rejected"}, "csrf": {csrf}}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown card: %s", resp.Status)
	}
	// Moving into allocate runs reserve_stock, as a caller's approval would:
	// 2 kits are reserved and the card moves on to dispatch.
	resp, _ = post(c, "R-2", url.Values{"stage": {"allocate"}, "csrf": {csrf}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/board/card/R-2?moved=1" {
		t.Fatalf("move: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	if s := stage("R-2"); s != "dispatch" {
		t.Errorf("R-2 is in %s, want dispatch (allocate reserves and moves on)", s)
	}
	_, body = get(t, c, e.srv.URL+"/board/card/R-2?moved=1")
	for _, want := range []string{"Moved. The card is now in Dispatch", "Organiser", "moved on the board", "validate → allocate", "reserved 2 kit", "allocate → dispatch"} {
		if !strings.Contains(body, want) {
			t.Errorf("card page after the move lacks %q", want)
		}
	}
	if out := e.say("organiser", "/status"); !regexp.MustCompile(`dispatch 2\b`).MatchString(out) || !strings.Contains(out, "validate 1") {
		t.Errorf("/status after the move:\n%s", out)
	}
}

// The zip export is the same open data as `sewa export`, with no personal
// data, and only for signed-in coordinators.
func TestExportZip(t *testing.T) {
	e := newEnv(t)
	c := e.signedIn()
	resp, body := get(t, c, e.srv.URL+"/export.zip?from=2026-04-01&to=2026-04-30")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/zip" ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), "sewa-open-data-2026-04-01-to-2026-04-30.zip") {
		t.Fatalf("export: %s %v", resp.Status, resp.Header)
	}
	zr, err := zip.NewReader(strings.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		rc, _ := f.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		low := strings.ToLower(string(b))
		for _, needle := range append(append(append([]string{}, seedNames...), seedPhones...), seedPANs...) {
			for _, part := range append([]string{needle}, strings.Fields(needle)...) {
				if strings.Contains(low, strings.ToLower(part)) {
					t.Errorf("%s contains %q", f.Name, part)
				}
			}
		}
		if f.Name == store.ExportRequests && strings.Count(string(b), "\n") != 5 {
			t.Errorf("requests.csv has %d lines, want a header and 4 requests:\n%s", strings.Count(string(b), "\n"), b)
		}
	}
	if strings.Join(names, " ") != "requests.csv deliveries.csv donations.csv stock_ledger.csv datapackage.json" {
		t.Errorf("files %v", names)
	}
	if resp, _ := get(t, c, e.srv.URL+"/export.zip?from=April"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad date: %s", resp.Status)
	}
}

// Moving a held card on the board releases its holder, who is told, as
// /move in chat does.
func TestMoveReleasesHolder(t *testing.T) {
	e := newEnv(t)
	if err := e.rt.MoveCard(context.Background(), "R-3", "deliver", "console:organiser"); err != nil {
		t.Fatal(err)
	}
	var stage string
	var assignee *int64
	e.st.DB().QueryRow(`SELECT stage, assignee FROM cards WHERE id = 'R-3'`).Scan(&stage, &assignee)
	if stage != "deliver" || assignee != nil {
		t.Errorf("R-3 in %s held by %v; want deliver, nobody", stage, assignee)
	}
	var told int
	e.st.DB().QueryRow(`SELECT count(*) FROM outbox WHERE channel = 'tg' AND address = '501' AND body LIKE '%R-3%'`).Scan(&told)
	if told == 0 {
		t.Error("Ravi, who held R-3, was not told")
	}
	for _, tt := range []struct{ card, stage, actor string }{
		{"R-3", "deliver", "console:organiser"}, // already there
		{"R-3", "validate", "tg:501"},           // not a coordinator
	} {
		if err := e.rt.MoveCard(context.Background(), tt.card, tt.stage, tt.actor); !errors.Is(err, web.ErrBadMove) {
			t.Errorf("%+v: %v, want ErrBadMove", tt, err)
		}
	}
}

// Package web is the coordinators' board in a browser: a kanban view per
// flow, each card with its fields and history, the /status numbers as a
// dashboard with a few charts, and the open-data export. It is rendered on
// the server with html/template; the templates, the style sheet and nothing
// else are embedded, there is no script and no build step, and the pages fit
// a phone screen.
//
// It reads the store directly and asks the running bot (a Backend) for the
// one thing it may change: moving a card to another stage, with the same
// rules and events as in chat.
package web

import (
	"bytes"
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"sewa/flows"
	"sewa/store"
)

//go:embed templates/*.html static/*
var files embed.FS

// Backend is what the board needs from the running bot.
type Backend interface {
	// Now is the bot's clock.
	Now() time.Time
	// IsCoordinator says whether c may use the board.
	IsCoordinator(c *store.Contact) bool
	// MoveCard moves a card to stage on behalf of actorKey ("tg:123"), with
	// the same rules and events as in chat. An error wrapping ErrBadMove or
	// store.ErrNotFound is the coordinator's to fix and is shown to them.
	MoveCard(ctx context.Context, cardID, stage, actorKey string) error
}

// ErrBadMove says a move breaks the flow's rules (no such stage, already
// there); its text is shown on the card's page.
var ErrBadMove = errors.New("cannot move the card")

// Server serves the board.
type Server struct {
	st      *store.Store
	flows   *flows.Set
	backend Backend
	loc     *time.Location
	lang    string
	log     *slog.Logger
	pii     []string
	secure  bool
	pages   map[string]*template.Template

	keyOnce sync.Once
	key     []byte // the board's signing key, read once
	keyErr  error
}

// Option configures a Server.
type Option func(*Server)

// WithLocation sets the time zone times and days are shown in.
func WithLocation(loc *time.Location) Option { return func(s *Server) { s.loc = loc } }

// WithLang sets the language for coordinators who have not chosen one.
func WithLang(lang string) Option { return func(s *Server) { s.lang = lang } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithPIIFields names the card fields that are personal data, shown only to
// people allowed to see them (see canSeePII).
func WithPIIFields(keys ...string) Option { return func(s *Server) { s.pii = keys } }

// WithSecureCookies marks the session cookie Secure even when the request
// does not look like https (the board is published behind an https proxy
// that does not set X-Forwarded-Proto).
func WithSecureCookies(on bool) Option { return func(s *Server) { s.secure = on } }

// New builds the board over a store and a flow set.
func New(st *store.Store, fs *flows.Set, b Backend, opts ...Option) *Server {
	s := &Server{st: st, flows: fs, backend: b, loc: time.UTC, lang: "en", log: slog.Default(),
		pii: []string{"name", "phone", "address", "donor_name", "donor_phone", "receipt_name", "receipt_address", "pan", "counterparty", "list_photo", "proof"}}
	for _, o := range opts {
		o(s)
	}
	s.pages = parsePages()
	return s
}

func parsePages() map[string]*template.Template {
	funcs := template.FuncMap{}
	pages := map[string]*template.Template{}
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		panic(err) // the pattern is a constant
	}
	for _, n := range names {
		if n == "templates/layout.html" {
			continue
		}
		// The templates are embedded: a parse error is a bug caught by every test.
		t := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", n))
		pages[strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")] = t
	}
	return pages
}

// Register adds the board's routes to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.Handle("GET /board/static/", s.headers(http.StripPrefix("/board/", http.FileServerFS(files)), true))
	mux.Handle("GET /board/signin", s.headers(http.HandlerFunc(s.signIn), false))
	mux.Handle("POST /board/signout", s.headers(s.auth(s.signOut), false))
	mux.Handle("GET /board", s.headers(s.auth(s.dashboard), false))
	mux.Handle("GET /board/{$}", s.headers(s.auth(s.dashboard), false))
	mux.Handle("GET /board/cards", s.headers(s.auth(s.cards), false))
	mux.Handle("GET /board/card/{id}", s.headers(s.auth(s.card), false))
	mux.Handle("POST /board/card/{id}/move", s.headers(s.auth(s.move), false))
	mux.Handle("GET /export.zip", s.headers(s.auth(s.exportZip), false))
	mux.Handle("/board/", s.headers(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, http.StatusNotFound, "There is no such page.")
	}), false))
}

// ContentSecurityPolicy allows the board's own style sheet and nothing else:
// no script at all, no frames, forms only to the board itself.
const ContentSecurityPolicy = "default-src 'self'; script-src 'none'; object-src 'none'; style-src 'self'; img-src 'self' data:; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// headers sets the security headers of every board response.
func (s *Server) headers(next http.Handler, static bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if static {
			h.Set("Cache-Control", "public, max-age=3600")
		} else {
			h.Set("Cache-Control", "no-store") // the pages hold personal data
		}
		if s.isHTTPS(r) {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) isHTTPS(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// viewer is the signed-in person.
type viewer struct {
	contact     *store.Contact
	coordinator bool   // the Backend says so
	session     string // the cookie's value
	csrf        string
	lang        string
}

// canSeePII is the rule for beneficiaries' and donors' personal data, the
// same as in chat: coordinators see it, and whoever holds the card. Only
// coordinators can sign in today.
func (v *viewer) canSeePII(card *store.Card) bool {
	return v.coordinator || card != nil && card.Assignee != 0 && card.Assignee == v.contact.ID
}

type handler func(w http.ResponseWriter, r *http.Request, v *viewer)

// auth lets a request through only with a valid session cookie.
func (s *Server) auth(next handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ck, err := r.Cookie(cookieName)
		if err != nil {
			s.fail(w, r, http.StatusUnauthorized, "")
			return
		}
		var c *store.Contact
		err = s.st.Tx(r.Context(), func(tx *store.Tx) error {
			var err error
			c, _, err = s.verify(tx, ck.Value, sessionKind, s.backend.Now())
			return err
		})
		if err != nil {
			s.log.Info("board session refused", "err", err)
			s.clearCookie(w, r)
			s.fail(w, r, http.StatusUnauthorized, "")
			return
		}
		key, err := s.signingKey(r.Context())
		if err != nil {
			s.internal(w, r, err)
			return
		}
		v := &viewer{contact: c, session: ck.Value, csrf: s.csrfToken(key, ck.Value), lang: c.Lang, coordinator: true}
		if v.lang == "" {
			v.lang = s.lang
		}
		next(w, r, v)
	})
}

func (s *Server) signingKey(ctx context.Context) ([]byte, error) {
	s.keyOnce.Do(func() { s.key, s.keyErr = s.st.Secret(ctx, keySecret) })
	return s.key, s.keyErr
}

// signIn turns a valid link into a session cookie and goes to the board.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	now := s.backend.Now()
	var c *store.Contact
	var t token
	err := s.st.Tx(r.Context(), func(tx *store.Tx) error {
		var err error
		c, t, err = s.verify(tx, r.URL.Query().Get("t"), linkPrefix, now)
		if err != nil {
			return err
		}
		key, err := tx.Secret(keySecret)
		if err != nil {
			return err
		}
		gen, err := tx.Secret(generationSecret(c.ID))
		if err != nil {
			return err
		}
		session := sign(key, gen, sessionKind, c.ID, t.expires)
		http.SetCookie(w, &http.Cookie{Name: cookieName, Value: session, Path: "/", Expires: t.expires,
			MaxAge: int(t.expires.Sub(now).Seconds()), HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.secure || s.isHTTPS(r)})
		return nil
	})
	if err != nil {
		s.log.Info("board sign-in refused", "err", err)
		s.fail(w, r, http.StatusUnauthorized, "")
		return
	}
	s.log.Info("board sign-in", "contact", c.Key())
	http.Redirect(w, r, "/board", http.StatusSeeOther)
}

func (s *Server) signOut(w http.ResponseWriter, r *http.Request, v *viewer) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if !s.checkCSRF(r, v) {
		s.fail(w, r, http.StatusForbidden, "This form has expired. Go back, reload the page and try again.")
		return
	}
	s.clearCookie(w, r)
	http.Redirect(w, r, "/board", http.StatusSeeOther)
}

func (s *Server) clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: s.secure || s.isHTTPS(r)})
}

// checkCSRF compares the form's token with the one of the session.
func (s *Server) checkCSRF(r *http.Request, v *viewer) bool {
	got := r.PostFormValue("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(v.csrf)) == 1
}

// render writes a page, or a 500 when the template fails.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	var buf bytes.Buffer
	t, ok := s.pages[name]
	if !ok {
		s.internal(w, r, errors.New("no page "+name))
		return
	}
	if err := t.ExecuteTemplate(&buf, "layout.html", data); err != nil {
		s.internal(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// errorPage is the page of a refusal or a failure.
type errorPage struct {
	layout
	Status  int
	Message string
	SignIn  bool
}

// fail shows a refusal. A 401 says how to get a link.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	p := errorPage{layout: layout{Title: http.StatusText(status)}, Status: status, Message: msg, SignIn: status == http.StatusUnauthorized}
	var buf bytes.Buffer
	if err := s.pages["error"].ExecuteTemplate(&buf, "layout.html", p); err != nil {
		http.Error(w, http.StatusText(status), status)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (s *Server) internal(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("board", "path", r.URL.Path, "err", err)
	http.Error(w, "Something went wrong on the server; it was logged.", http.StatusInternalServerError)
}

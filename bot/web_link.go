package bot

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"sewa/bot/web"
	"sewa/store"
)

// The web board (package web) and what the runtime gives it: /board in chat
// for a personal sign-in link, MoveCard for the one change the board may
// make, its routes, and the daily backup.

// WithPublicURL sets the board's address as people reach it
// ("https://sewa.example.org"), for the links /board sends. Without it the
// links use the listen address of WithHTTP. An https address also marks the
// session cookie Secure.
func WithPublicURL(u string) Option {
	return func(r *Runtime) { r.ops.publicURL = strings.TrimRight(strings.TrimSpace(u), "/") }
}

// WithDailyBackup makes a backup of the database into dir once a day
// (sewa-2026-04-02.db) and keeps the last keep of them.
func WithDailyBackup(dir string, keep int) Option {
	return func(r *Runtime) { r.ops.backupDir, r.ops.backupKeep = dir, keep }
}

// webCommands are the coordinators' way onto the board.
func (h *handling) webCommands() []command {
	return []command{
		{name: "board", roles: []string{RoleCoordinator}, help: "help_board", run: (*handling).cmdBoard},
	}
}

// cmdBoard sends a personal sign-in link; "/board revoke" ends every link
// and session issued to this coordinator so far.
func (h *handling) cmdBoard(args string) error {
	switch strings.ToLower(strings.TrimSpace(args)) {
	case "":
		if h.r.httpAddr == "off" && h.r.ops.publicURL == "" {
			return h.say("board_off")
		}
		token, expires, err := web.IssueLink(h.tx, h.who.ID, h.now)
		if err != nil {
			return err
		}
		h.r.log.Info("board link issued", "contact", h.who.Key(), "expires", expires)
		return h.say("board_link", "link", h.r.boardBase()+web.SignInPath+token, "until", h.when(expires))
	case "revoke":
		if err := web.RevokeLinks(h.tx, h.who.ID); err != nil {
			return err
		}
		h.r.log.Info("board links revoked", "contact", h.who.Key())
		return h.say("board_revoked")
	default:
		return h.say("board_usage")
	}
}

// boardBase is the scheme and host the board's links start with: the public
// URL when set, else the listen address ("" when the runtime does not
// listen itself, e.g. in tests that serve Handler on their own).
func (r *Runtime) boardBase() string {
	if r.ops.publicURL != "" {
		return r.ops.publicURL
	}
	host, port, err := net.SplitHostPort(r.httpAddr)
	if err != nil {
		return ""
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// BoardLink issues a sign-in link for the coordinator with contactKey
// ("tg:123"), as /board does.
func (r *Runtime) BoardLink(ctx context.Context, contactKey string) (string, error) {
	var link string
	err := r.store.Tx(ctx, func(tx *store.Tx) error {
		c, err := r.contactByKey(tx, contactKey)
		if err != nil {
			return err
		}
		if !r.isCoordinator(c) {
			return fmt.Errorf("board link for %s: not a coordinator", contactKey)
		}
		token, _, err := web.IssueLink(tx, c.ID, r.clock.Now())
		link = r.boardBase() + web.SignInPath + token
		return err
	})
	return link, err
}

func (r *Runtime) contactByKey(tx *store.Tx, key string) (*store.Contact, error) {
	channel, address, ok := strings.Cut(key, ":")
	if !ok {
		return nil, fmt.Errorf("contact %q: want channel:address: %w", key, store.ErrNotFound)
	}
	return tx.Contact(channel, address)
}

func (r *Runtime) isCoordinator(c *store.Contact) bool {
	return c.Has(RoleCoordinator) || r.coordinators[strings.ToLower(c.Key())]
}

// MoveCard moves a card to stage on behalf of a coordinator (actorKey,
// "tg:123"), as the board's move form does, by the rules of /move in chat
// (bot/board_card.go): whoever holds the card is released and told, the move
// is written in its history under the coordinator's name, the stage's
// on_enter actions run (entering allocate reserves kits and moves on) and
// the stage's queue offers it, all in one transaction. Unlike /move it
// sends the coordinator no chat message: the board shows the result. Errors
// wrapping web.ErrBadMove or store.ErrNotFound are the coordinator's to fix.
func (r *Runtime) MoveCard(ctx context.Context, cardID, stage, actorKey string) error {
	touched := map[string]bool{}
	err := r.store.Tx(ctx, func(tx *store.Tx) error {
		who, err := r.contactByKey(tx, actorKey)
		if err != nil {
			return err
		}
		if !r.isCoordinator(who) {
			return fmt.Errorf("%w: only coordinators move cards on the board", web.ErrBadMove)
		}
		card, err := tx.Card(strings.ToUpper(strings.TrimSpace(cardID)))
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("card %s: %w", cardID, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		f := r.flows.Flow(card.Flow)
		if f == nil {
			return fmt.Errorf("%w: %s belongs to flow %q, which the flow file no longer has", web.ErrBadMove, card.ID, card.Flow)
		}
		st := f.Stage(stage)
		if st == nil {
			return fmt.Errorf("%w: %s has no stage %q (stages: %s)", web.ErrBadMove, f.ID, stage, strings.Join(f.StageNames(), ", "))
		}
		if st.ID == card.Stage && card.Open {
			return fmt.Errorf("%w: %s is already in %s", web.ErrBadMove, card.ID, stage)
		}
		lang := who.Lang
		if lang == "" {
			lang = r.lang
		}
		h := &handling{r: r, tx: tx, now: r.clock.Now(), touched: touched, who: who, lang: lang}
		if err := h.releaseHolder(card); err != nil {
			return err
		}
		if err := h.move(card, st.ID, "moved on the board"); err != nil {
			return err
		}
		for _, a := range st.OnEnter {
			if err := h.do(a, card); err != nil {
				return err
			}
		}
		card.Updated = h.now
		return tx.SaveCard(card)
	})
	if err != nil {
		return err
	}
	for name := range touched {
		r.poke(name)
	}
	return nil
}

// webBackend is the Runtime as the board sees it.
type webBackend struct{ r *Runtime }

func (b webBackend) Now() time.Time                      { return b.r.clock.Now() }
func (b webBackend) IsCoordinator(c *store.Contact) bool { return b.r.isCoordinator(c) }
func (b webBackend) MoveCard(ctx context.Context, cardID, stage, actorKey string) error {
	return b.r.MoveCard(ctx, cardID, stage, actorKey)
}

// webRoutes serves the board and the open-data export.
func (r *Runtime) webRoutes(mux *http.ServeMux) {
	web.New(r.store, r.flows, webBackend{r},
		web.WithLocation(r.loc), web.WithLang(r.lang), web.WithLogger(r.log), web.WithPIIFields(piiFields...),
		web.WithSecureCookies(strings.HasPrefix(r.ops.publicURL, "https://")),
	).Register(mux)
}

// webJobs make the daily backup. The job runs every hour and backs up only
// when today's backup is missing, so a bot that is not running at night
// still gets one a day.
func (r *Runtime) webJobs() []job {
	if r.ops.backupDir == "" {
		return nil
	}
	return []job{{name: "backup", spec: "17 * * * *", run: r.dailyBackup}}
}

func (r *Runtime) dailyBackup(ctx context.Context, now time.Time) error {
	day := now.In(r.loc).Format(time.DateOnly)
	path, made, err := r.store.DailyBackup(ctx, r.ops.backupDir, day, r.ops.backupKeep)
	if err != nil {
		r.metrics().backupBad.Inc()
		return err
	}
	if made {
		r.metrics().backupOK.Set(float64(now.Unix()))
		r.log.Info("daily backup made", "path", path)
	}
	return nil
}

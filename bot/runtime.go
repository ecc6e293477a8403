package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"sewa/flows"
	"sewa/store"
)

// Runtime is the bot: it implements Inbox for every channel and drains the
// outbox to them.
type Runtime struct {
	store        *store.Store
	flows        *flows.Set
	clock        Clock
	log          *slog.Logger
	lang         string
	loc          *time.Location
	coordinators map[string]bool // contact keys: "tg:123", "console:asha"
	channels     map[string]Channel
	actions      map[string]Action
	httpAddr     string

	mu       sync.Mutex
	wake     map[string]chan struct{} // per channel: the outbox has something new
	draining map[string]*sync.Mutex
}

// Option configures a Runtime.
type Option func(*Runtime)

// WithClock sets the clock (default: the system clock).
func WithClock(c Clock) Option { return func(r *Runtime) { r.clock = c } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(r *Runtime) { r.log = l } }

// WithLang sets the language of people who have not chosen one.
func WithLang(lang string) Option { return func(r *Runtime) { r.lang = lang } }

// WithLocation sets the time zone in which times are shown.
func WithLocation(loc *time.Location) Option { return func(r *Runtime) { r.loc = loc } }

// WithCoordinators names contacts ("tg:123", "wa:9198…", "console:asha")
// who are coordinators.
func WithCoordinators(keys ...string) Option {
	return func(r *Runtime) {
		for _, k := range keys {
			r.coordinators[strings.ToLower(strings.TrimSpace(k))] = true
		}
	}
}

// WithChannel adds a channel.
func WithChannel(ch Channel) Option {
	return func(r *Runtime) { r.channels[ch.Name()] = ch }
}

// New builds a runtime over a store and a set of flows.
func New(st *store.Store, fs *flows.Set, opts ...Option) *Runtime {
	r := &Runtime{
		store:        st,
		flows:        fs,
		clock:        SystemClock{},
		log:          slog.Default(),
		lang:         "en",
		loc:          time.UTC,
		coordinators: map[string]bool{},
		channels:     map[string]Channel{},
		wake:         map[string]chan struct{}{},
		draining:     map[string]*sync.Mutex{},
	}
	r.actions = defaultActions()
	for _, o := range opts {
		o(r)
	}
	return r
}

// Run receives on every channel and drains their outboxes until ctx ends or
// a channel fails for good.
func (r *Runtime) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 2*len(r.channels)+1)
	var wg sync.WaitGroup
	for _, ch := range r.channels {
		wg.Add(2)
		go func() {
			defer wg.Done()
			err := ch.Receive(ctx, r)
			if err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("%s: %w", ch.Name(), err)
			} else {
				errs <- nil
			}
		}()
		go func() {
			defer wg.Done()
			r.sendLoop(ctx, ch)
		}()
	}
	stopScheduler := r.startScheduler(ctx)
	defer stopScheduler()
	if r.httpAddr != "" && r.httpAddr != "off" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.serveHTTP(ctx); err != nil {
				errs <- err
			}
		}()
	}
	// The first channel to stop (console at end of input, or a failure)
	// stops the bot; the others get a clean shutdown.
	err := <-errs
	cancel()
	wg.Wait()
	return err
}

// Accept commits msgs, everything they cause and the cursor in one
// transaction. A message whose handling fails is kept, its sender told, and
// the rest of the batch goes on: one bad request never blocks the others.
func (r *Runtime) Accept(ctx context.Context, msgs []Message, cursor *Cursor) error {
	now := r.clock.Now()
	touched := map[string]bool{}
	err := r.store.Tx(ctx, func(tx *store.Tx) error {
		for i, m := range msgs {
			fresh, err := tx.MarkInbound(m.Channel, m.ExternalID, now)
			if err != nil {
				return err
			}
			if !fresh {
				continue
			}
			h := &handling{r: r, tx: tx, msg: m, now: now, touched: touched}
			err = tx.Savepoint(fmt.Sprintf("msg%d", i), h.run)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if err := r.keepFailed(tx, m, err, now, touched); err != nil {
					return err
				}
			}
		}
		if cursor != nil {
			return tx.SetCursor(cursor.Name, cursor.Value)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for name := range touched {
		r.poke(name)
	}
	return nil
}

// keepFailed records a message whose handling failed and tells its sender
// it was kept, so nothing a person typed is lost or crashes the bot.
func (r *Runtime) keepFailed(tx *store.Tx, m Message, cause error, now time.Time, touched map[string]bool) error {
	r.log.Error("message handling failed; message kept", "channel", m.Channel, "external_id", m.ExternalID, "err", cause)
	body, _ := json.Marshal(m)
	if err := tx.KeepFailed(m.Channel, m.ExternalID, cause.Error(), string(body)); err != nil {
		return err
	}
	lang := r.lang
	if c, err := tx.Contact(m.Channel, m.User); err == nil && c.Lang != "" {
		lang = c.Lang
	}
	touched[m.Channel] = true
	return r.enqueue(tx, m.Channel, m.User, Outgoing{Text: r.flows.Catalog.Get(lang, "went_wrong")}, now)
}

func (r *Runtime) enqueue(tx *store.Tx, channel, to string, out Outgoing, now time.Time) error {
	body, err := json.Marshal(out)
	if err != nil {
		return err
	}
	_, err = tx.Enqueue(channel, to, string(body), now)
	return err
}

// poke wakes the outbox sender of a channel.
func (r *Runtime) poke(channel string) {
	select {
	case r.wakeOf(channel) <- struct{}{}:
	default:
	}
}

func (r *Runtime) wakeOf(channel string) chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch, ok := r.wake[channel]
	if !ok {
		ch = make(chan struct{}, 1)
		r.wake[channel] = ch
	}
	return ch
}

// Flows returns the flow set in use.
func (r *Runtime) Flows() *flows.Set { return r.flows }

var errNoFlow = errors.New("no such flow")

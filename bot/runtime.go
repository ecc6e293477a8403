package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
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
	board        boardConfig // stale reminders and the digest (board.go)
	money        moneyConfig // receipts and the SMS webhook (money.go)
	work         workConfig  // capacity and offer window of push assignment (work.go)

	commits commitQueue // Accept's group commit
	ops     opsState    // metrics, board links, daily backup (metrics.go, web_link.go)

	mu       sync.Mutex
	wake     map[string]chan struct{} // per channel: the outbox has something new
	draining map[string]*sync.Mutex

	instance      string            // this process among those sharing the database (scale.go)
	receiveLeases map[string]string // channel → the lease its Receive runs under
	sendLeases    map[string]string // channel → the lease its sending needs
	holding       map[string]bool   // leases this process holds now
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

		receiveLeases: map[string]string{},
		sendLeases:    map[string]string{},
		holding:       map[string]bool{},
	}
	r.actions = defaultActions()
	for _, o := range opts {
		o(r)
	}
	if r.instance == "" {
		r.instance = NewInstanceID()
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
			var err error
			if lease, ok := r.receiveLeases[ch.Name()]; ok && r.shared() {
				err = r.receiveUnderLease(ctx, ch, lease)
			} else {
				err = ch.Receive(ctx, r)
			}
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
	if r.shared() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.heartbeat(ctx)
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
//
// Concurrent calls are committed together (group commit): the first caller
// to find no commit running leads; everyone who arrives while it commits
// queues up, and the next leader commits the whole queue in one transaction,
// one savepoint per message, in arrival order, so that one durable write
// (one fsync) covers many chats. A caller's messages stay in its order, and
// calls of one chat that wait for each other keep theirs. If a shared
// transaction fails as a whole, each call is retried in a transaction of its
// own, so that one call's trouble never fails the others.
func (r *Runtime) Accept(ctx context.Context, msgs []Message, cursor *Cursor) error {
	req := &acceptReq{ctx: ctx, msgs: msgs, cursor: cursor, done: make(chan error, 1), lead: make(chan struct{}, 1)}
	q := &r.commits
	q.mu.Lock()
	q.pending = append(q.pending, req)
	if !q.busy {
		q.busy = true
		req.lead <- struct{}{}
	}
	q.mu.Unlock()
	// A queued caller does not leave when its ctx ends: it may be promoted to
	// lead, and a commit is short. The leader skips a call whose ctx ended.
	select {
	case err := <-req.done:
		return err
	case <-req.lead:
	}
	q.mu.Lock()
	n, size := 0, 0
	for n < len(q.pending) && (n == 0 || size+len(q.pending[n].msgs) <= maxGroupMessages) {
		size += len(q.pending[n].msgs)
		n++
	}
	batch := q.pending[:n:n]
	q.pending = slices.Clone(q.pending[n:])
	q.mu.Unlock()

	r.commitGroupSafe(batch)

	q.mu.Lock()
	if len(q.pending) > 0 {
		q.pending[0].lead <- struct{}{}
	} else {
		q.busy = false
	}
	q.mu.Unlock()
	return <-req.done
}

// commitGroupSafe is commitGroup turning a panic outside any message's
// savepoint into an error for the calls not yet answered: the leader must
// always hand on the lead, or every later Accept would wait forever.
func (r *Runtime) commitGroupSafe(batch []*acceptReq) {
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("accept: panic outside a message; the batch was rolled back", "panic", p)
			for _, req := range batch {
				req.finish(fmt.Errorf("accept: panic: %v", p))
			}
		}
	}()
	r.commitGroup(batch)
}

// maxGroupMessages bounds one group commit, so that no caller waits behind
// an unbounded transaction.
const maxGroupMessages = 512

// acceptReq is one Accept call waiting for its commit.
type acceptReq struct {
	ctx    context.Context
	msgs   []Message
	cursor *Cursor
	done   chan error    // the outcome, once
	lead   chan struct{} // this caller is to commit the queue
	over   bool          // done was sent (only the leader touches it)
}

// finish tells the caller the outcome, once.
func (req *acceptReq) finish(err error) {
	if !req.over {
		req.over = true
		req.done <- err
	}
}

// commitQueue is the group commit's queue of Accept calls.
type commitQueue struct {
	mu      sync.Mutex
	busy    bool // a leader is committing
	pending []*acceptReq
}

// commitGroup commits batch in one transaction and tells every caller.
func (r *Runtime) commitGroup(batch []*acceptReq) {
	live := make([]*acceptReq, 0, len(batch))
	for _, req := range batch {
		if err := req.ctx.Err(); err != nil {
			req.finish(err)
			continue
		}
		live = append(live, req)
	}
	if len(live) == 0 {
		return
	}
	touched := map[string]bool{}
	err := r.commit(live, touched)
	if err != nil && len(live) > 1 {
		r.log.Warn("group commit failed; committing its calls one by one", "calls", len(live), "err", err)
		for _, req := range live {
			one := map[string]bool{}
			err := r.commit([]*acceptReq{req}, one)
			if err == nil {
				maps.Copy(touched, one)
			}
			req.finish(err)
		}
	} else {
		if err != nil {
			clear(touched)
		}
		for _, req := range live {
			req.finish(err)
		}
	}
	for name := range touched {
		r.poke(name)
	}
}

// commit runs the messages and cursors of reqs in one transaction.
func (r *Runtime) commit(reqs []*acceptReq, touched map[string]bool) error {
	ctx := reqs[0].ctx
	if len(reqs) > 1 {
		// Shared by several callers: no one caller's cancellation aborts it.
		ctx = context.WithoutCancel(ctx)
	}
	seq := 0
	return r.store.Tx(ctx, func(tx *store.Tx) error {
		for _, req := range reqs {
			now := r.clock.Now()
			for _, m := range req.msgs {
				fresh, err := tx.MarkInbound(m.Channel, m.ExternalID, now)
				if err != nil {
					return err
				}
				if !fresh {
					continue
				}
				seq++
				h := &handling{r: r, tx: tx, msg: m, now: now, touched: touched}
				started := time.Now() // metrics: real time, not the runtime's clock
				err = tx.Savepoint(fmt.Sprintf("msg%d", seq), h.run)
				r.observeHandled(m.Channel, started)
				if err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					if err := r.keepFailed(tx, m, err, now, touched); err != nil {
						return err
					}
				}
			}
			if req.cursor != nil {
				if err := tx.SetCursor(req.cursor.Name, req.cursor.Value); err != nil {
					return err
				}
			}
		}
		return nil
	})
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

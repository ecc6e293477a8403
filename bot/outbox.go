package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"sewa/store"
)

const (
	// maxAttempts bounds retries of a message that keeps failing transiently.
	maxAttempts = 8
	// duePage is how many due rows one pass of the sender reads. It is large
	// so that the rows of chats waiting for their per-chat slot do not hide
	// the rows of chats that may be sent to now.
	duePage = 1000
	// sendTimeout bounds one Send; a send that takes longer counts as a
	// transient failure.
	sendTimeout = 60 * time.Second
	// recordTimeout bounds recording what became of a send, once the send
	// is over, even when the sender is stopping.
	recordTimeout = 30 * time.Second
)

// sendLoop drains a channel's outbox whenever something is due or a commit
// pokes it, until ctx ends.
func (r *Runtime) sendLoop(ctx context.Context, ch Channel) {
	p := newPacer(ch.Caps())
	// The platform's limits count the last second, and a process that has
	// just started does not know what the one before it sent in that
	// second (it may have been killed mid-burst): wait the second out.
	if err := sleepUntil(ctx, time.Now().Add(p.settle())); err != nil {
		return
	}
	for {
		if r.shared() {
			p.share(r.liveProcesses(ctx))
		}
		if err := r.drain(ctx, ch, p); err != nil && ctx.Err() == nil {
			r.log.Error("outbox", "channel", ch.Name(), "err", err)
		}
		wait := 5 * time.Second
		if next, err := r.nextDue(ctx, ch.Name()); err == nil && !next.IsZero() {
			wait = max(min(next.Sub(r.clock.Now()), wait), 10*time.Millisecond)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-r.wakeOf(ch.Name()):
		case <-t.C:
		}
		t.Stop()
	}
}

// Flush sends everything due on a channel now. The console calls it after
// each line so replies appear before the next prompt.
func (r *Runtime) Flush(ctx context.Context, channel string) error {
	ch, ok := r.channels[channel]
	if !ok {
		return fmt.Errorf("flush: no channel %q", channel)
	}
	return r.drain(ctx, ch, nil)
}

// drain sends every due message of ch, keeping each chat's messages in
// outbox order and pacing by the channel's limits: a chat whose next slot is
// later waits, and its later rows wait behind it, while the other chats go
// on.
func (r *Runtime) drain(ctx context.Context, ch Channel, p *pacer) error {
	mu := r.drainLock(ch.Name())
	mu.Lock()
	defer mu.Unlock()
	if !r.mayDrain(ch.Name()) {
		return nil // another process holds this channel's connection
	}
	if p == nil {
		p = newPacer(ch.Caps())
	}
	for {
		rows, err := r.due(ctx, ch.Name())
		if err != nil || len(rows) == 0 {
			return err
		}
		p.fair(rows)
		waiting := map[string]bool{} // chats whose next slot is later: their later rows wait too
		gone := map[string]bool{}    // chats that turned out to have blocked the bot
		var earliest time.Time
		later := func(at time.Time) {
			if earliest.IsZero() || at.Before(earliest) {
				earliest = at
			}
		}
		progress := 0
		for _, row := range rows {
			if waiting[row.Address] {
				continue
			}
			if gone[row.Address] {
				// Queued before the block was known: failed without a call.
				if err := r.store.MarkFailed(ctx, row.ID, ErrBlocked.Error()); err != nil {
					return err
				}
				progress++
				continue
			}
			if id, ok := p.retrying[row.Address]; ok && id != row.ID {
				// An earlier row of this chat waits for its retry and was
				// not due when this page was read: it goes first.
				waiting[row.Address] = true
				at := p.chatReady(row.Address)
				if at.IsZero() {
					at = time.Now()
				}
				later(at)
				continue
			}
			if at := p.chatReady(row.Address); !at.IsZero() {
				waiting[row.Address] = true
				later(at)
				continue
			}
			if err := p.waitGlobal(ctx); err != nil {
				return err
			}
			if ok, err := r.claim(ctx, row); err != nil || !ok {
				if err != nil {
					return err
				}
				waiting[row.Address] = true // another process has this chat now
				continue
			}
			res, err := r.sendOne(ctx, ch, row, p)
			if err != nil {
				return err
			}
			switch res {
			case sendBlocked:
				gone[row.Address] = true
			case sendLater:
				waiting[row.Address] = true
			}
			progress++
		}
		if progress == 0 {
			if earliest.IsZero() {
				return nil
			}
			if err := sleepUntil(ctx, earliest); err != nil {
				return err
			}
		}
	}
}

// due reads the rows this process may send now: on a shared store, not
// those another process holds (store.DueFor).
func (r *Runtime) due(ctx context.Context, channel string) ([]store.Outbound, error) {
	if r.shared() {
		return r.store.DueFor(ctx, channel, r.instance, r.clock.Now(), chatGap(r.channels[channel]), duePage)
	}
	return r.store.Due(ctx, channel, r.clock.Now(), duePage)
}

func (r *Runtime) nextDue(ctx context.Context, channel string) (time.Time, error) {
	if r.shared() {
		return r.store.NextDueFor(ctx, channel, r.instance, r.clock.Now())
	}
	return r.store.NextDue(ctx, channel)
}

// claim makes row this process's to send; on a shared store another
// process may hold it or its chat (false). One process needs no claims.
func (r *Runtime) claim(ctx context.Context, row store.Outbound) (bool, error) {
	if !r.shared() {
		return true, nil
	}
	now := r.clock.Now()
	return r.store.ClaimOutbound(ctx, row.ID, r.instance, now, now.Add(claimTTL), chatGap(r.channels[row.Channel]))
}

// chatGap is a channel's least time between two messages to one chat.
func chatGap(ch Channel) time.Duration {
	if ch == nil || ch.Caps().ChatRate <= 0 {
		return 0
	}
	return newPacer(ch.Caps()).chat
}

// drainLock keeps two drains of one channel from sending a row twice.
func (r *Runtime) drainLock(channel string) *sync.Mutex {
	r.mu.Lock()
	defer r.mu.Unlock()
	mu, ok := r.draining[channel]
	if !ok {
		mu = &sync.Mutex{}
		r.draining[channel] = mu
	}
	return mu
}

// sendResult is what became of one attempt.
type sendResult int

const (
	sendDone    sendResult = iota // sent, or failed for good
	sendLater                     // to be retried; the chat's later rows wait behind it
	sendBlocked                   // the recipient blocked the bot: their other rows fail too
)

// sendOne makes one attempt and records what the channel's answer means.
// Once Send has started, the attempt and its record are finished even if ctx
// ends (within sendTimeout and recordTimeout): a message the platform
// confirmed but that is not recorded as sent would be sent again after a
// restart.
func (r *Runtime) sendOne(ctx context.Context, ch Channel, row store.Outbound, p *pacer) (sendResult, error) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sendTimeout+recordTimeout)
	defer cancel()
	var out Outgoing
	if err := json.Unmarshal([]byte(row.Body), &out); err != nil {
		return sendDone, r.store.MarkFailed(wctx, row.ID, "unreadable body: "+err.Error())
	}
	out.ID, out.Channel, out.To = row.ID, row.Channel, row.Address
	sctx, stop := context.WithTimeout(wctx, sendTimeout)
	started := time.Now()
	extID, err := ch.Send(sctx, out)
	stop()
	p.sent(row.Address, started, err)
	delete(p.retrying, row.Address)
	now := r.clock.Now()
	var limited *ErrRateLimited
	switch {
	case err == nil:
		return sendDone, r.markSent(wctx, row.ID, extID, now)
	case errors.As(err, &limited):
		p.limited(row.Address, limited.RetryAfter)
		p.retrying[row.Address] = row.ID
		r.log.Warn("rate limited", "channel", ch.Name(), "outbox_id", row.ID, "retry_after", limited.RetryAfter)
		return sendLater, r.store.MarkRetry(wctx, row.ID, now.Add(limited.RetryAfter), err.Error())
	case errors.Is(err, ErrBlocked):
		r.log.Warn("recipient blocked the bot", "channel", ch.Name(), "to", row.Address, "outbox_id", row.ID)
		if err := r.blocked(wctx, ch.Name(), row.Address, now); err != nil {
			return sendBlocked, err
		}
		return sendBlocked, r.store.MarkFailed(wctx, row.ID, err.Error())
	case errors.Is(err, ErrTransient) && row.Attempts+1 < maxAttempts:
		wait := backoff(row.Attempts)
		p.hold(row.Address, wait)
		p.retrying[row.Address] = row.ID
		r.log.Warn("send failed; will retry", "channel", ch.Name(), "outbox_id", row.ID, "attempt", row.Attempts+1, "err", err)
		return sendLater, r.store.MarkRetry(wctx, row.ID, now.Add(wait), err.Error())
	default:
		r.log.Error("send failed for good", "channel", ch.Name(), "outbox_id", row.ID, "to", row.Address, "err", err)
		return sendDone, r.store.MarkFailed(wctx, row.ID, err.Error())
	}
}

// markSent records a message the channel confirmed. It keeps trying while
// the database is busy: a confirmed message left pending would be sent
// twice.
func (r *Runtime) markSent(ctx context.Context, id int64, extID string, at time.Time) error {
	wait := 20 * time.Millisecond
	for {
		err := r.store.MarkSent(ctx, id, extID, at)
		if err == nil || ctx.Err() != nil {
			return err
		}
		r.log.Warn("cannot record a sent message yet; retrying", "outbox_id", id, "err", err)
		if err := sleepUntil(ctx, time.Now().Add(wait)); err != nil {
			return err
		}
		wait = min(wait*2, 2*time.Second)
	}
}

// backoff is exponential from 1s, capped at 5 minutes, with jitter so many
// retries do not arrive together.
func backoff(attempts int) time.Duration {
	d := time.Second << min(attempts, 9)
	d = min(d, 5*time.Minute)
	return d/2 + rand.N(d/2+1)
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// pacer keeps sends under a channel's overall and per-chat rates. It uses
// the real clock: the limits are the platform's, in real seconds.
//
// A row to be retried holds its chat until it is due again, and the chat's
// later rows wait behind it, so that a chat's messages arrive in order. (The
// hold is in memory: after a restart, order across a pending retry is not
// guaranteed.) A 429 holds the chat it answered for retry_after; two 429s in
// a row (on two calls one after the other) mean the bot as a whole is over
// its limit, and then every chat waits.
type pacer struct {
	global, chat time.Duration // minimum gaps
	base         time.Duration // global for one process alone
	next         time.Time     // earliest next send overall
	chats        map[string]time.Time
	retrying     map[string]int64 // chat → its row waiting for a retry
	strikes      int              // 429s in a row
}

func newPacer(c Caps) *pacer {
	p := &pacer{chats: map[string]time.Time{}, retrying: map[string]int64{}}
	// A few percent of margin keeps scheduling noise from tipping a strict
	// limiter over.
	if c.Rate > 0 {
		p.global = time.Duration(float64(time.Second) / c.Rate * 1.03)
		p.base = p.global
	}
	if c.ChatRate > 0 {
		p.chat = time.Duration(float64(time.Second) / c.ChatRate * 1.05)
	}
	return p
}

// settle is how long a new sender waits before its first send: the
// longest window the channel's limits count over, or nothing without limits.
func (p *pacer) settle() time.Duration {
	if p.global == 0 && p.chat == 0 {
		return 0
	}
	return max(p.chat, time.Second)
}

// share paces this process for n processes sending on the channel at once
// (a shared store): each keeps to 1/n of the platform's overall rate.
func (p *pacer) share(n int) {
	p.global = p.base * time.Duration(max(n, 1))
}

// chatReady returns the zero time when chat may be sent to now, or when.
func (p *pacer) chatReady(chat string) time.Time {
	if at, ok := p.chats[chat]; ok && time.Now().Before(at) {
		return at
	}
	return time.Time{}
}

// fair orders a page so that, under a per-chat limit, the chat that has been
// ready longest goes first (a chat never sent to before all others), keeping
// each chat's rows in order. In plain outbox order the chats that queued
// first would take every free slot, and the others would be left for the
// end, when their per-chat limit makes the tail slow.
func (p *pacer) fair(rows []store.Outbound) {
	if p.chat <= 0 {
		return
	}
	slices.SortStableFunc(rows, func(a, b store.Outbound) int {
		return p.chats[a.Address].Compare(p.chats[b.Address])
	})
}

func (p *pacer) waitGlobal(ctx context.Context) error { return sleepUntil(ctx, p.next) }

// sent notes an attempt that started at started: every call counts against
// the platform's limits. The gaps run from the start of a call, so that the
// time a call takes, and recording it, is not added to every gap.
func (p *pacer) sent(chat string, started time.Time, err error) {
	now := time.Now()
	if limited := (*ErrRateLimited)(nil); !errors.As(err, &limited) {
		p.strikes = 0
	}
	// Keep to the schedule rather than to when the timer fired: a send that
	// started a little late (timers oversleep) does not push back the next.
	base := started
	if late := started.Sub(p.next); !p.next.IsZero() && late >= 0 && late < p.global/2 {
		base = p.next
	}
	if at := base.Add(p.global); at.After(p.next) {
		p.next = at
	}
	if p.chat > 0 {
		if at := started.Add(p.chat); at.After(p.chats[chat]) {
			p.chats[chat] = at
		}
		if len(p.chats) > 10000 {
			for k, at := range p.chats {
				if now.After(at) {
					delete(p.chats, k)
				}
			}
		}
	}
}

// hold keeps chat waiting for at least d from now.
func (p *pacer) hold(chat string, d time.Duration) {
	if at := time.Now().Add(d); at.After(p.chats[chat]) {
		p.chats[chat] = at
	}
}

// limited handles a 429 for chat.
func (p *pacer) limited(chat string, d time.Duration) {
	p.hold(chat, d)
	p.strikes++
	if at := time.Now().Add(d); p.strikes >= 2 && at.After(p.next) {
		p.next = at
	}
}

// blocked records that a contact blocked the bot, and when they were a
// volunteer or coordinator tells the coordinators on their channels, in the
// same transaction: nobody should wait for answers from someone gone.
func (r *Runtime) blocked(ctx context.Context, channel, address string, now time.Time) error {
	return r.asSystem(ctx, now, func(h *handling) error {
		c, err := h.tx.Contact(channel, address)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if !c.Blocked.IsZero() {
			return nil // already known
		}
		if err := h.tx.MarkBlocked(channel, address, now); err != nil {
			return err
		}
		if !c.Has(RoleCoordinator) && !slices.ContainsFunc(WorkRoles, c.Has) {
			return nil
		}
		people, err := h.tx.ContactsWithRole(RoleCoordinator)
		if err != nil {
			return err
		}
		for _, p := range people {
			if p.ID == c.ID {
				continue
			}
			text := h.catalog().Get(langOf(p, r.lang), "volunteer_blocked", "name", personName(c), "who", c.Key())
			if err := h.sendTo(p, Outgoing{Text: text}); err != nil {
				return err
			}
		}
		return nil
	})
}

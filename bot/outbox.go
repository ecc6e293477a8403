package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"sewa/store"
)

// maxAttempts bounds retries of a message that keeps failing transiently.
const maxAttempts = 8

// sendLoop drains a channel's outbox whenever something is due or a commit
// pokes it, until ctx ends.
func (r *Runtime) sendLoop(ctx context.Context, ch Channel) {
	p := newPacer(ch.Caps())
	for {
		if err := r.drain(ctx, ch, p); err != nil && ctx.Err() == nil {
			r.log.Error("outbox", "channel", ch.Name(), "err", err)
		}
		wait := 5 * time.Second
		if next, err := r.store.NextDue(ctx, ch.Name()); err == nil && !next.IsZero() {
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

// drain sends every due message of ch in outbox order, keeping each chat's
// messages in order and pacing by the channel's limits.
func (r *Runtime) drain(ctx context.Context, ch Channel, p *pacer) error {
	mu := r.drainLock(ch.Name())
	mu.Lock()
	defer mu.Unlock()
	if p == nil {
		p = newPacer(ch.Caps())
	}
	for {
		rows, err := r.store.Due(ctx, ch.Name(), r.clock.Now(), 200)
		if err != nil || len(rows) == 0 {
			return err
		}
		waiting := map[string]bool{} // chats whose next slot is later: their later rows wait too
		var earliest time.Time
		sent := 0
		for _, row := range rows {
			if waiting[row.Address] {
				continue
			}
			if at := p.chatReady(row.Address); !at.IsZero() {
				waiting[row.Address] = true
				if earliest.IsZero() || at.Before(earliest) {
					earliest = at
				}
				continue
			}
			if err := p.waitGlobal(ctx); err != nil {
				return err
			}
			if err := r.sendOne(ctx, ch, row, p); err != nil {
				return err
			}
			sent++
		}
		if sent == 0 && !earliest.IsZero() {
			if err := sleepUntil(ctx, earliest); err != nil {
				return err
			}
		}
	}
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

// sendOne makes one attempt and records what the channel's answer means.
func (r *Runtime) sendOne(ctx context.Context, ch Channel, row store.Outbound, p *pacer) error {
	var out Outgoing
	if err := json.Unmarshal([]byte(row.Body), &out); err != nil {
		return r.store.MarkFailed(ctx, row.ID, "unreadable body: "+err.Error())
	}
	out.ID, out.Channel, out.To = row.ID, row.Channel, row.Address
	extID, err := ch.Send(ctx, out)
	p.sent(row.Address)
	now := r.clock.Now()
	var limited *ErrRateLimited
	switch {
	case err == nil:
		return r.store.MarkSent(ctx, row.ID, extID, now)
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.As(err, &limited):
		p.pause(limited.RetryAfter)
		r.log.Warn("rate limited", "channel", ch.Name(), "outbox_id", row.ID, "retry_after", limited.RetryAfter)
		return r.store.MarkRetry(ctx, row.ID, now.Add(limited.RetryAfter), err.Error())
	case errors.Is(err, ErrBlocked):
		r.log.Warn("recipient blocked the bot", "channel", ch.Name(), "to", row.Address, "outbox_id", row.ID)
		if err := r.store.Tx(ctx, func(tx *store.Tx) error { return tx.MarkBlocked(ch.Name(), row.Address, now) }); err != nil {
			return err
		}
		return r.store.MarkFailed(ctx, row.ID, err.Error())
	case errors.Is(err, ErrTransient) && row.Attempts+1 < maxAttempts:
		next := now.Add(backoff(row.Attempts))
		r.log.Warn("send failed; will retry", "channel", ch.Name(), "outbox_id", row.ID, "attempt", row.Attempts+1, "err", err)
		return r.store.MarkRetry(ctx, row.ID, next, err.Error())
	default:
		r.log.Error("send failed for good", "channel", ch.Name(), "outbox_id", row.ID, "to", row.Address, "err", err)
		return r.store.MarkFailed(ctx, row.ID, err.Error())
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
		return nil
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
type pacer struct {
	global, chat time.Duration // minimum gaps
	next         time.Time     // earliest next send overall
	chats        map[string]time.Time
}

func newPacer(c Caps) *pacer {
	p := &pacer{chats: map[string]time.Time{}}
	// A few percent of margin keeps scheduling noise from tipping a strict
	// limiter over.
	if c.Rate > 0 {
		p.global = time.Duration(float64(time.Second) / c.Rate * 1.03)
	}
	if c.ChatRate > 0 {
		p.chat = time.Duration(float64(time.Second) / c.ChatRate * 1.05)
	}
	return p
}

// chatReady returns the zero time when chat may be sent to now, or when.
func (p *pacer) chatReady(chat string) time.Time {
	if at, ok := p.chats[chat]; ok && time.Now().Before(at) {
		return at
	}
	return time.Time{}
}

func (p *pacer) waitGlobal(ctx context.Context) error { return sleepUntil(ctx, p.next) }

func (p *pacer) sent(chat string) {
	now := time.Now()
	p.next = now.Add(p.global)
	if p.chat > 0 {
		p.chats[chat] = now.Add(p.chat)
		if len(p.chats) > 10000 {
			for k, at := range p.chats {
				if now.After(at) {
					delete(p.chats, k)
				}
			}
		}
	}
}

// pause holds every send after a rate-limit answer.
func (p *pacer) pause(d time.Duration) {
	if at := time.Now().Add(d); at.After(p.next) {
		p.next = at
	}
}

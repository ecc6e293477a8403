package bot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"time"
)

// Several sewa processes on one PostgreSQL database. Everything a message
// causes is one transaction under the store's write lock, so handling is
// safe in any number of processes; what must be done by one process at a
// time is done under a lease (store.TakeLease):
//
//   - receiving on a channel that pulls its updates (Telegram polling, the
//     WhatsApp connection): WithReceiveLease names the lease, and only its
//     holder runs the channel's Receive; the others wait to take over when
//     the holder dies. Webhook mode needs none: every process serves it.
//   - the scheduled jobs: each run of a job first takes the "scheduler"
//     lease, so they run in one process, whichever holds it;
//   - the outbox is drained by every process, one row at a time under a
//     claim (store.ClaimOutbound) that lasts while the claimer's process
//     lease is renewed, so a chat's messages are sent once and in order.
//
// On SQLite there is one process, and none of this is needed or done.

const (
	// leaseTTL is how long a receive lease lasts; its holder renews it
	// every leaseRenew and stops receiving the moment a renewal fails, well
	// before another process may take it.
	leaseTTL   = 30 * time.Second
	leaseRenew = 10 * time.Second
	// schedulerTTL outlasts the jobs' one-minute specs: the process that
	// ran the last jobs runs the next.
	schedulerTTL = 3 * time.Minute
	// processTTL is how long a process counts as alive after its last
	// heartbeat (every processTTL/4); its outbox claims die with it.
	processTTL = 20 * time.Second
	// claimTTL bounds one outbox claim: a send and its record.
	claimTTL = sendTimeout + recordTimeout

	schedulerLease = "scheduler"
)

// WithInstance names this process among those sharing the database; the
// default is host:pid:random.
func WithInstance(id string) Option { return func(r *Runtime) { r.instance = id } }

// WithReceiveLease makes Receive on channel run only in the process that
// holds the lease called lease, when the store is shared (PostgreSQL).
func WithReceiveLease(channel, lease string) Option {
	return func(r *Runtime) { r.receiveLeases[channel] = lease }
}

// WithConnectionLease is WithReceiveLease for a channel that can also send
// only from the process that holds its connection (WhatsApp: one linked
// device, one connection): that process alone drains its outbox.
func WithConnectionLease(channel, lease string) Option {
	return func(r *Runtime) {
		r.receiveLeases[channel] = lease
		r.sendLeases[channel] = lease
	}
}

// mayDrain reports whether this process sends channel's outbox now: on a
// shared store, a channel under WithConnectionLease only while its lease
// is held here.
func (r *Runtime) mayDrain(channel string) bool {
	lease, ok := r.sendLeases[channel]
	if !ok || !r.shared() {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.holding[lease]
}

func (r *Runtime) setHolding(lease string, held bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.holding[lease] = held
}

// NewInstanceID names a process: its host, pid and a random part.
func NewInstanceID() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	rand.Read(b)
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b))
}

// Instance returns the name of this process among those sharing the
// database.
func (r *Runtime) Instance() string { return r.instance }

// shared reports whether other processes may use the store.
func (r *Runtime) shared() bool { return r.store.Postgres() }

// heartbeat renews this process's lease until ctx ends, then gives up its
// outbox claims, the lease and the scheduler lease, so the others need not
// wait for them.
func (r *Runtime) heartbeat(ctx context.Context) {
	name := processLease(r.instance)
	t := time.NewTicker(processTTL / 4)
	defer t.Stop()
	for {
		if _, err := r.store.TakeLease(ctx, name, r.instance, processTTL, r.clock.Now()); err != nil && ctx.Err() == nil {
			r.log.Warn("process lease", "err", err)
		}
		select {
		case <-ctx.Done():
			bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if err := r.store.ReleaseClaims(bg, r.instance); err != nil {
				r.log.Warn("release outbox claims", "err", err)
			}
			r.store.ReleaseLease(bg, name, r.instance)
			// A clean stop hands the scheduler on at once rather than after
			// its lease runs out.
			r.store.ReleaseLease(bg, schedulerLease, r.instance)
			return
		case <-t.C:
		}
	}
}

// receiveUnderLease runs ch.Receive while this process holds lease, and
// waits to take it over while another process does. It returns when ctx
// ends (nil) or Receive fails for good.
func (r *Runtime) receiveUnderLease(ctx context.Context, ch Channel, lease string) error {
	for {
		ok, err := r.store.TakeLease(ctx, lease, r.instance, leaseTTL, r.clock.Now())
		if err != nil && ctx.Err() == nil {
			r.log.Warn("receive lease", "channel", ch.Name(), "lease", lease, "err", err)
		}
		if ok {
			r.log.Info("receiving: this process holds the lease", "channel", ch.Name(), "lease", lease, "instance", r.instance)
			if err := r.receiveHeld(ctx, ch, lease); err != nil || ctx.Err() != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(leaseRenew):
		}
	}
}

// receiveHeld runs Receive and renews the lease until ctx ends (the lease
// is released: nil), Receive fails (its error) or a renewal fails (nil,
// receiving stopped).
func (r *Runtime) receiveHeld(ctx context.Context, ch Channel, lease string) error {
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	r.setHolding(lease, true)
	defer r.setHolding(lease, false)
	done := make(chan error, 1)
	go func() { done <- ch.Receive(rctx, r) }()
	t := time.NewTicker(leaseRenew)
	defer t.Stop()
	for {
		select {
		case err := <-done:
			if ctx.Err() != nil {
				bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				r.store.ReleaseLease(bg, lease, r.instance)
				cancel()
				return nil
			}
			return err
		case <-t.C:
			ok, err := r.store.TakeLease(ctx, lease, r.instance, leaseTTL, r.clock.Now())
			if err == nil && ok {
				continue
			}
			if ctx.Err() != nil {
				continue // shutting down: Receive ends next
			}
			r.log.Warn("receive lease lost; receiving stopped", "channel", ch.Name(), "lease", lease, "err", err)
			stop()
			<-done
			return nil
		}
	}
}

// leadsScheduler reports whether this process runs the scheduled jobs now:
// always on SQLite; on PostgreSQL when it holds (or takes) the scheduler
// lease.
func (r *Runtime) leadsScheduler(ctx context.Context) bool {
	if !r.shared() {
		return true
	}
	ok, err := r.store.TakeLease(ctx, schedulerLease, r.instance, schedulerTTL, r.clock.Now())
	if err != nil && ctx.Err() == nil {
		r.log.Warn("scheduler lease", "err", err)
	}
	return ok
}

func processLease(instance string) string { return "process:" + instance }

// liveProcesses counts the processes sharing the store now (at least this
// one).
func (r *Runtime) liveProcesses(ctx context.Context) int {
	n, err := r.store.LiveProcesses(ctx, r.clock.Now())
	if err != nil || n < 1 {
		return 1
	}
	return n
}

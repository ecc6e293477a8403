package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/robfig/cron/v3"

	"sewa/store"
)

// job is periodic work: lease expiry, stale-card reminders, the digest.
// Each area of the bot lists its own jobs in its own file.
type job struct {
	name string
	spec string // cron spec in the runtime's time zone
	run  func(ctx context.Context, now time.Time) error
}

func (r *Runtime) jobs() []job {
	return slices.Concat(r.workJobs(), r.boardJobs(), r.webJobs(), r.requestJobs())
}

// Tick runs every job once at the runtime clock's now. The scheduler calls
// each job on its own spec; tests move the clock and call Tick.
func (r *Runtime) Tick(ctx context.Context) error {
	var errs []error
	now := r.clock.Now()
	for _, j := range r.jobs() {
		if err := j.run(ctx, now); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", j.name, err))
		}
	}
	return errors.Join(errs...)
}

// startScheduler runs the jobs on their specs until ctx ends. A job still
// running when its next turn comes is skipped, not stacked.
func (r *Runtime) startScheduler(ctx context.Context) (stop func()) {
	logger := cron.PrintfLogger(slog.NewLogLogger(r.log.Handler(), slog.LevelWarn))
	c := cron.New(cron.WithLocation(r.loc), cron.WithChain(cron.Recover(logger), cron.SkipIfStillRunning(logger)))
	for _, j := range r.jobs() {
		if _, err := c.AddFunc(j.spec, func() {
			if !r.leadsScheduler(ctx) {
				return // another process runs the jobs (scale.go)
			}
			if err := j.run(ctx, r.clock.Now()); err != nil && ctx.Err() == nil {
				r.log.Error("scheduled job failed", "job", j.name, "err", err)
			}
		}); err != nil {
			r.log.Error("bad schedule", "job", j.name, "spec", j.spec, "err", err)
		}
	}
	c.Start()
	return func() { <-c.Stop().Done() }
}

// asSystem runs fn in one transaction as the system (no sender), so jobs
// use the same effects, events and outbox as messages do.
func (r *Runtime) asSystem(ctx context.Context, now time.Time, fn func(h *handling) error) error {
	touched := map[string]bool{}
	err := r.store.Tx(ctx, func(tx *store.Tx) error {
		h := &handling{r: r, tx: tx, now: now, touched: touched, lang: r.lang}
		return fn(h)
	})
	if err != nil {
		return err
	}
	for name := range touched {
		r.poke(name)
	}
	return nil
}

// AlertCoordinators tells every coordinator, except on the channels named
// (the one that is failing), something an operator must act on.
func (r *Runtime) AlertCoordinators(ctx context.Context, text string, except ...string) error {
	return r.asSystem(ctx, r.clock.Now(), func(h *handling) error {
		people, err := h.tx.ContactsWithRole(RoleCoordinator)
		if err != nil {
			return err
		}
		for _, p := range people {
			if slices.Contains(except, p.Channel) {
				continue
			}
			if err := h.sendTo(p, Outgoing{Text: "⚠ " + text}); err != nil {
				return err
			}
		}
		return nil
	})
}

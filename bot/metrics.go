package bot

import (
	"context"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"sewa/store"
)

// Metrics, served as /metrics in Prometheus' format from a registry the
// Runtime owns (never the global default one, so two runtimes in one test
// process do not share counters):
//
//	sewa_inbound_messages_total{channel}          messages handled (replays not counted)
//	sewa_handling_seconds{channel}                time to handle one message, in its transaction
//	sewa_outbox_pending{channel}                  messages waiting to be sent
//	sewa_outbox_failed_total{channel}             messages given up on (from the outbox, so it survives restarts)
//	sewa_cards_open{flow,stage}                   open cards per stage
//	sewa_cards_held{flow,stage}                   of them, held by someone
//	sewa_cards_stale{flow,stage}                  of them, in the stage longer than its stale_after
//	sewa_stage_oldest_seconds{flow,stage}         how long the longest-waiting card has been there
//	sewa_lease_expiries_total{flow,stage}         leases that ran out and put a card back
//	sewa_reminders_sent_total{level}              stale-card reminders sent (holder, coordinators)
//	sewa_backup_last_success_timestamp_seconds    the last daily backup made
//	sewa_backup_failures_total                    daily backups that failed
//
// plus the Go runtime's and the process's standard metrics. The card and
// outbox numbers are read from the store at scrape time; the counters are
// counted as things happen.

// opsState is the operator surface of a Runtime: metrics, the board's
// settings and the daily backup. Its zero value is ready; the metrics are
// made on first use.
type opsState struct {
	once sync.Once
	m    *metrics

	publicURL  string // the board's address as people reach it
	backupDir  string // "": no daily backup
	backupKeep int
}

// metrics is the Runtime's Prometheus registry and the counters areas bump.
type metrics struct {
	reg       *prometheus.Registry
	inbound   *prometheus.CounterVec
	handling  *prometheus.HistogramVec
	leases    *prometheus.CounterVec
	reminders *prometheus.CounterVec
	backupOK  prometheus.Gauge
	backupBad prometheus.Counter
}

func (r *Runtime) metrics() *metrics {
	r.ops.once.Do(func() { r.ops.m = newMetrics(r) })
	return r.ops.m
}

func newMetrics(r *Runtime) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		inbound: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sewa_inbound_messages_total",
			Help: "Inbound messages handled, by channel (replays of handled messages are not counted)."}, []string{"channel"}),
		handling: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sewa_handling_seconds",
			Help:    "Time to handle one inbound message inside its transaction, by channel.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}, []string{"channel"}),
		leases: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sewa_lease_expiries_total",
			Help: "Leases that ran out and put a card back in its queue, by flow and stage."}, []string{"flow", "stage"}),
		reminders: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sewa_reminders_sent_total",
			Help: "Stale-card reminders sent, by level (holder, coordinators)."}, []string{"level"}),
		backupOK: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sewa_backup_last_success_timestamp_seconds",
			Help: "When the last daily backup was made (unix seconds); 0 before the first."}),
		backupBad: prometheus.NewCounter(prometheus.CounterOpts{Name: "sewa_backup_failures_total",
			Help: "Daily backups that failed."}),
	}
	m.reg.MustRegister(m.inbound, m.handling, m.leases, m.reminders, m.backupOK, m.backupBad,
		storeCollector{r: r},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observeHandled counts one handled message and the time it took. Accept
// calls it around each message's savepoint.
func (r *Runtime) observeHandled(channel string, started time.Time) {
	m := r.metrics()
	m.inbound.WithLabelValues(channel).Inc()
	m.handling.WithLabelValues(channel).Observe(time.Since(started).Seconds())
}

// leaseExpired counts a lease that ran out; the lease-expiry job calls it
// for each card it puts back.
func (m *metrics) leaseExpired(flow, stage string) { m.leases.WithLabelValues(flow, stage).Inc() }

// reminderSent counts a stale-card reminder; the reminder job calls it for
// each reminder it records (level store.RemindHolder or RemindCoordinators).
func (m *metrics) reminderSent(level string) { m.reminders.WithLabelValues(level).Inc() }

// metricsHandler serves the registry.
func (r *Runtime) metricsHandler() http.Handler {
	m := r.metrics()
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, Registry: m.reg})
}

// storeCollector reads the board and the outbox at scrape time.
type storeCollector struct{ r *Runtime }

var (
	descOpen    = prometheus.NewDesc("sewa_cards_open", "Open cards per flow and stage.", []string{"flow", "stage"}, nil)
	descHeld    = prometheus.NewDesc("sewa_cards_held", "Open cards held by someone, per flow and stage.", []string{"flow", "stage"}, nil)
	descStale   = prometheus.NewDesc("sewa_cards_stale", "Open cards in their stage longer than its stale_after (counted up to 1000 per stage).", []string{"flow", "stage"}, nil)
	descOldest  = prometheus.NewDesc("sewa_stage_oldest_seconds", "How long the longest-waiting open card has been in its stage.", []string{"flow", "stage"}, nil)
	descPending = prometheus.NewDesc("sewa_outbox_pending", "Messages waiting in the outbox, per channel.", []string{"channel"}, nil)
	descFailed  = prometheus.NewDesc("sewa_outbox_failed_total", "Messages the outbox gave up sending, per channel.", []string{"channel"}, nil)
	descScrape  = prometheus.NewDesc("sewa_store_scrape_error", "Reading the store for metrics failed.", nil, nil)
)

func (c storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descOpen, descHeld, descStale, descOldest, descPending, descFailed} {
		ch <- d
	}
}

func (c storeCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.r
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	now := r.clock.Now()
	qs := r.boardQueries(now)
	names := make([]string, 0, len(r.channels))
	for name := range r.channels {
		names = append(names, name)
	}
	sort.Strings(names)
	var stats []store.StageStat
	channels := make([]store.ChannelStats, len(names))
	err := r.store.Tx(ctx, func(tx *store.Tx) error {
		var err error
		if stats, err = tx.Board(qs); err != nil {
			return err
		}
		for i, name := range names {
			if channels[i], err = tx.ChannelActivity(name, time.Time{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		r.log.Warn("metrics: reading the store failed", "err", err)
		ch <- prometheus.NewInvalidMetric(descScrape, err)
		return
	}
	for _, s := range stats {
		ch <- prometheus.MustNewConstMetric(descOpen, prometheus.GaugeValue, float64(s.Open), s.Flow, s.Stage)
		ch <- prometheus.MustNewConstMetric(descHeld, prometheus.GaugeValue, float64(s.Held), s.Flow, s.Stage)
		ch <- prometheus.MustNewConstMetric(descStale, prometheus.GaugeValue, float64(s.Stale), s.Flow, s.Stage)
		age := 0.0
		if !s.Oldest.IsZero() {
			age = now.Sub(s.Oldest).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, age, s.Flow, s.Stage)
	}
	for i, name := range names {
		ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(channels[i].Pending), name)
		ch <- prometheus.MustNewConstMetric(descFailed, prometheus.CounterValue, float64(channels[i].Failed), name)
	}
}

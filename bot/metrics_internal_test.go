package bot

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"sewa/store"
)

// The counters other areas bump (the lease-expiry and reminder jobs) reach
// /metrics with their labels.
func TestMetricHooks(t *testing.T) {
	r := New(nil, nil)
	r.metrics().leaseExpired("request", "dispatch")
	r.metrics().leaseExpired("request", "dispatch")
	r.metrics().reminderSent(store.RemindHolder)
	m := r.metrics()
	rec := httptest.NewRecorder()
	// Only the counters: the store collector needs a store.
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.leases, m.reminders)
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{
		`sewa_lease_expiries_total{flow="request",stage="dispatch"} 2`,
		`sewa_reminders_sent_total{level="holder"} 1`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("no %q in:\n%s", want, rec.Body)
		}
	}
}

// Package metrics exposes the Butler's Prometheus metrics: runs by task and
// outcome, run durations, running and queued runs, notification subscribers
// and dropped updates.
package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/plexbutler/butler"
)

// Source is what the gauges read at each scrape; *butler.Manager implements it.
type Source interface {
	RunCounts(ctx context.Context) (map[butler.RunState]int, error)
	EventStats() (subscribers int, dropped int64)
	Health() butler.Health
}

// Metrics counts runs as the Manager reports them (it is a butler.Observer)
// and serves them with the gauges read from a Source.
type Metrics struct {
	reg      *prometheus.Registry
	runs     *prometheus.CounterVec
	duration *prometheus.HistogramVec
	source   Source
}

var _ butler.Observer = (*Metrics)(nil)

// New returns metrics with their own registry (plus Go and process metrics).
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.runs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "butler_runs_total", Help: "Runs that ended, by task and outcome.",
	}, []string{"task", "outcome"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "butler_run_duration_seconds",
		Help:    "How long runs ran, from start to end, by task.",
		Buckets: []float64{0.01, 0.1, 1, 10, 60, 300, 900, 1800, 3600, 7200, 14400},
	}, []string{"task"})
	m.reg.MustRegister(m.runs, m.duration, collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), gauges{m})
	return m
}

// Watch sets the source of the gauges.
func (m *Metrics) Watch(s Source) { m.source = s }

// RunEnded counts a run that ended.
func (m *Metrics) RunEnded(r butler.Run) {
	m.runs.WithLabelValues(string(r.Task), string(r.Outcome)).Inc()
	if !r.StartedAt.IsZero() && !r.EndedAt.IsZero() {
		m.duration.WithLabelValues(string(r.Task)).Observe(r.EndedAt.Sub(r.StartedAt).Seconds())
	}
}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

var (
	runsDesc = prometheus.NewDesc("butler_runs_active", "Runs that are scheduled, queued, running or stopping, by state.",
		[]string{"state"}, nil)
	subsDesc     = prometheus.NewDesc("butler_notification_subscribers", "Clients subscribed to notifications.", nil, nil)
	droppedDesc  = prometheus.NewDesc("butler_notification_dropped_updates_total", "Progress updates merged away or dropped because a subscriber was slow.", nil, nil)
	writableDesc = prometheus.NewDesc("butler_store_writable", "1 while the database can write, 0 while its writes fail (disk full, read-only, unreachable).", nil, nil)
	failuresDesc = prometheus.NewDesc("butler_store_write_failures_total", "Writes to the database that failed.", nil, nil)
)

// gauges reads the source at scrape time.
type gauges struct{ m *Metrics }

func (g gauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- runsDesc
	ch <- subsDesc
	ch <- droppedDesc
	ch <- writableDesc
	ch <- failuresDesc
}

func (g gauges) Collect(ch chan<- prometheus.Metric) {
	s := g.m.source
	if s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if counts, err := s.RunCounts(ctx); err == nil {
		for _, st := range []butler.RunState{butler.StateScheduled, butler.StateQueued, butler.StateRunning, butler.StateStopping} {
			ch <- prometheus.MustNewConstMetric(runsDesc, prometheus.GaugeValue, float64(counts[st]), string(st))
		}
	}
	subs, dropped := s.EventStats()
	ch <- prometheus.MustNewConstMetric(subsDesc, prometheus.GaugeValue, float64(subs))
	ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(dropped))
	h := s.Health()
	writable := 0.0
	if h.OK {
		writable = 1
	}
	ch <- prometheus.MustNewConstMetric(writableDesc, prometheus.GaugeValue, writable)
	ch <- prometheus.MustNewConstMetric(failuresDesc, prometheus.CounterValue, float64(h.WriteFailures))
}

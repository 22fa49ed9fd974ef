package router

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	calls    *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
	retries  *prometheus.CounterVec
	failures *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_gateway_storage_calls_total", Help: "Storage calls the gateway's router made, by operation."}, []string{"op"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "strata_gateway_storage_call_seconds", Help: "Duration of the router's storage calls, by operation (long polls included).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10)}, []string{"op"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_gateway_leader_retries_total", Help: "Partitions sent again to a new leader after NOT_LEADER_OR_FOLLOWER, by operation."}, []string{"op"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_gateway_partition_errors_total", Help: "Partition results that carried an error, by operation and code."}, []string{"op", "code"}),
	}
	reg.MustRegister(m.calls, m.seconds, m.retries, m.failures)
	return m
}

// called counts one storage call and the partition errors it returned.
func (m *metrics) called(op string, took time.Duration, failed []string) {
	if m == nil {
		return
	}
	m.calls.WithLabelValues(op).Inc()
	m.seconds.WithLabelValues(op).Observe(took.Seconds())
	for _, code := range failed {
		m.failures.WithLabelValues(op, code).Inc()
	}
}

func (m *metrics) retried(op string, n int) {
	if m != nil {
		m.retries.WithLabelValues(op).Add(float64(n))
	}
}

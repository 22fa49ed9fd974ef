package controller

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	active        prometheus.Gauge
	registrations *prometheus.CounterVec
	topicOps      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_controller_active", Help: "1 while this controller is the active one."}),
		registrations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_controller_registrations_total", Help: "Member registrations handled, by kind."}, []string{"kind"}),
		topicOps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_controller_topic_operations_total", Help: "Topic changes applied, by operation."}, []string{"op"}),
	}
	reg.MustRegister(m.active, m.registrations, m.topicOps)
	return m
}

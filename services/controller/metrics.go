package controller

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	active            prometheus.Gauge
	leaderElections   prometheus.Counter
	offlinePartitions prometheus.Gauge
	offlineReplicas   prometheus.Gauge
	underReplicated   prometheus.Gauge
	isrChanges        *prometheus.CounterVec
	registrations     *prometheus.CounterVec
	topicOps          *prometheus.CounterVec

	// This controller's etcd member (etcdmaint.go).
	etcdDBSize  prometheus.Gauge
	etcdDBFile  prometheus.Gauge
	etcdNoSpace prometheus.Gauge
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
	m.leaderElections = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "strata_controller_leader_elections_total", Help: "Partition leader changes made by this controller."})
	m.offlinePartitions = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "strata_controller_offline_partitions", Help: "Partitions without a leader, as of the last reconcile."})
	m.offlineReplicas = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "strata_controller_offline_replicas", Help: "Replicas their storage node reported offline after a storage fault, over all partitions, as of the last reconcile."})
	m.underReplicated = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "strata_controller_under_replicated_partitions", Help: "Partitions whose ISR is smaller than their replica set, as of the last reconcile."})
	m.isrChanges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strata_controller_isr_changes_total", Help: "ISR changes applied for leaders, by direction (shrink, expand)."}, []string{"direction"})
	m.etcdDBSize = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "strata_controller_etcd_db_size_bytes", Help: "Bytes in use in this controller's etcd db (what counts against --etcd-quota-bytes after a defragmentation)."})
	m.etcdDBFile = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "strata_controller_etcd_db_file_bytes", Help: "Size of this controller's etcd db file, free pages included (what the quota is checked against)."})
	m.etcdNoSpace = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "strata_controller_etcd_nospace_alarm", Help: "1 while this controller's etcd member has a NOSPACE alarm (metadata writes fail)."})
	reg.MustRegister(m.active, m.registrations, m.topicOps, m.leaderElections, m.offlinePartitions, m.offlineReplicas, m.underReplicated, m.isrChanges,
		m.etcdDBSize, m.etcdDBFile, m.etcdNoSpace)
	return m
}

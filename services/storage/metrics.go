package storage

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	replicas           prometheus.Gauge
	underReplicated    prometheus.Gauge
	isrChanges         *prometheus.CounterVec
	followerLag        *prometheus.GaugeVec
	truncations        prometheus.Counter
	maxLagMs           prometheus.Gauge
	fetchLoops         prometheus.Gauge
	offline            prometheus.Gauge
	refusedTruncations prometheus.Counter

	// Disk usage (diskusage.go).
	logDirFree    *prometheus.GaugeVec
	logDirTotal   *prometheus.GaugeVec
	partitionSize *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		replicas: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_storage_replicas", Help: "Partition replicas held by this node."}),
		underReplicated: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_storage_under_replicated_partitions", Help: "Partitions led here whose ISR is smaller than their replica set."}),
		isrChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_storage_isr_changes_total", Help: "ISR changes this node made as leader, by direction (shrink, expand)."}, []string{"direction"}),
		followerLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "strata_storage_replica_lag_messages", Help: "Messages this follower is behind its leader, per partition."}, []string{"partition"}),
		truncations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_storage_divergent_truncations_total", Help: "Follower logs truncated by the leader-epoch check."}),
	}
	m.maxLagMs = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "strata_storage_max_follower_lag_ms", Help: "Longest time any follower of a partition led here has not been caught up."})
	m.fetchLoops = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "strata_storage_replica_fetch_loops", Help: "Replica fetch loops running (one per leader node followed)."})
	m.offline = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "strata_storage_offline_replicas", Help: "Replicas on this node that are offline after a storage fault."})
	m.refusedTruncations = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "strata_storage_refused_truncations_total", Help: "Truncations below the high watermark this follower refused (the leader lacked committed records)."})
	m.logDirFree = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "strata_storage_log_dir_free_bytes", Help: "Free bytes (usable without root) of the file system holding the log dir."}, []string{"dir"})
	m.logDirTotal = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "strata_storage_log_dir_total_bytes", Help: "Size in bytes of the file system holding the log dir."}, []string{"dir"})
	m.partitionSize = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "strata_storage_partition_size_bytes", Help: "Bytes of the segments of each partition replica held here."}, []string{"topic", "partition"})
	reg.MustRegister(m.replicas, m.underReplicated, m.isrChanges, m.followerLag, m.truncations, m.maxLagMs,
		m.fetchLoops, m.offline, m.refusedTruncations, m.logDirFree, m.logDirTotal, m.partitionSize)
	return m
}

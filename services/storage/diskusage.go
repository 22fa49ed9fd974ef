package storage

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/fsutil"
)

// diskCheckInterval is how often the node reads its free disk space and
// partition sizes into the metrics.
const diskCheckInterval = 5 * time.Second

// diskRecoverMargin is the hysteresis of the low-space warning: once below
// the threshold, free space must climb this fraction above it before the
// node reports recovery, so space hovering at the threshold logs twice at
// most, not on every check.
const diskRecoverMargin = 0.05

// diskWatcher turns free-space readings of the log directory into metrics
// and one WARN per crossing below the threshold (one INFO on recovery).
type diskWatcher struct {
	dir    string
	warn   uint64 // free bytes below which the node warns
	statfs func(dir string) (fsutil.Space, error)
	log    *slog.Logger

	low    bool // free space is below warn (until it recovers past the margin)
	failed bool // the last statfs failed (logged once until it works again)
}

func newDiskWatcher(dir string, warn uint64, log *slog.Logger) *diskWatcher {
	return &diskWatcher{dir: dir, warn: warn, statfs: fsutil.DiskSpace, log: log}
}

// check reads the free space and logs a crossing of the threshold. ok is
// false when statfs failed.
func (w *diskWatcher) check() (sp fsutil.Space, ok bool) {
	sp, err := w.statfs(w.dir)
	if err != nil {
		if !w.failed {
			w.log.Warn("cannot read the free space of the log dir", "dir", w.dir, "err", err)
		}
		w.failed = true
		return sp, false
	}
	w.failed = false
	switch {
	case !w.low && sp.Free < w.warn:
		w.low = true
		w.log.Warn("log dir is low on disk space", "dir", w.dir, "free_bytes", sp.Free, "total_bytes", sp.Total, "warn_below_bytes", w.warn)
	case w.low && float64(sp.Free) >= float64(w.warn)*(1+diskRecoverMargin):
		w.low = false
		w.log.Info("log dir has enough disk space again", "dir", w.dir, "free_bytes", sp.Free, "total_bytes", sp.Total, "warn_below_bytes", w.warn)
	}
	return sp, true
}

// watchDisk refreshes the disk metrics every diskCheckInterval: the log
// dir's free and total bytes and each open partition's size. Series of
// partitions no longer held are removed.
func (n *Node) watchDisk(ctx context.Context) {
	w := newDiskWatcher(n.cfg.DataDir, n.cfg.DiskFreeWarnBytes, n.Log)
	reported := map[partitionKey]bool{}
	for {
		n.refreshDiskMetrics(w, reported)
		select {
		case <-ctx.Done():
			return
		case <-time.After(diskCheckInterval):
		}
	}
}

func (n *Node) refreshDiskMetrics(w *diskWatcher, reported map[partitionKey]bool) {
	m := n.metrics
	if sp, ok := w.check(); ok {
		m.logDirFree.WithLabelValues(w.dir).Set(float64(sp.Free))
		m.logDirTotal.WithLabelValues(w.dir).Set(float64(sp.Total))
	}
	seen := map[partitionKey]bool{}
	for _, p := range n.parts.all() {
		if p.log == nil {
			continue // offline before its log opened: no size to tell
		}
		seen[p.key] = true
		m.partitionSize.WithLabelValues(p.key.topic, strconv.Itoa(int(p.key.partition))).Set(float64(p.log.Size()))
	}
	for k := range reported {
		if !seen[k] {
			m.partitionSize.DeleteLabelValues(k.topic, strconv.Itoa(int(k.partition)))
			delete(reported, k)
		}
	}
	for k := range seen {
		reported[k] = true
	}
}

// fillDiskUsage adds the log dir's free and total bytes, read now, to a
// ListReplicas answer. A failed statfs leaves them 0.
func (n *Node) fillDiskUsage(out *storagev1.ListReplicasResponse) {
	out.LogDir, out.DiskFreeWarnBytes = n.cfg.DataDir, n.cfg.DiskFreeWarnBytes
	if sp, err := fsutil.DiskSpace(n.cfg.DataDir); err == nil {
		out.LogDirFreeBytes, out.LogDirTotalBytes = sp.Free, sp.Total
	}
}

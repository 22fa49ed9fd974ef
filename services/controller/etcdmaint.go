package controller

import (
	"context"
	"errors"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Every controller looks after its own etcd member: the in-process client
// reaches only that member, so Status, Defragment and the alarms below are
// about it alone. Compaction is cluster-wide and runs on its own
// (--etcd-auto-compaction-*); watchers resume from a revision and fall back
// to a snapshot when it is compacted (watch.go), so compaction loses
// nothing. Compaction frees pages inside the bolt file, defragmentation
// gives them back to the file system.

const (
	// etcdCheckInterval is how often the member's size and alarms are read.
	etcdCheckInterval = 10 * time.Second
	// etcdMaintenanceTimeout bounds one compaction or defragmentation.
	etcdMaintenanceTimeout = 2 * time.Minute
	// etcdDefragMinFreeBytes: a smaller gap between the file size and the
	// bytes in use is not worth blocking the member to defragment.
	etcdDefragMinFreeBytes = 8 << 20
)

type etcdMaintainer struct {
	c          *Controller
	lastDefrag time.Time
	noSpace    bool // a NOSPACE alarm of this member is raised
}

// maintainEtcd runs until ctx ends: it exports the db size, defragments the
// member every --etcd-defrag-interval when much of its file is free, and
// recovers from a NOSPACE alarm (compact, defragment, disarm).
func (c *Controller) maintainEtcd(ctx context.Context) {
	m := &etcdMaintainer{c: c, lastDefrag: time.Now()}
	for {
		m.check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(etcdCheckInterval):
		}
	}
}

func (m *etcdMaintainer) check(ctx context.Context) {
	c := m.c
	st, err := c.cli.Status(ctx, "")
	if err != nil {
		if ctx.Err() == nil {
			c.log.Warn("cannot read the etcd member's status", "err", err)
		}
		return
	}
	c.metrics.etcdDBSize.Set(float64(st.DbSizeInUse))
	c.metrics.etcdDBFile.Set(float64(st.DbSize))

	alarmed, err := m.noSpaceAlarm(ctx)
	if err != nil {
		c.log.Warn("cannot list etcd alarms", "err", err)
	}
	if alarmed {
		m.recoverNoSpace(ctx, st)
		return
	}
	free := st.DbSize - st.DbSizeInUse
	if c.cfg.EtcdDefragInterval > 0 && time.Since(m.lastDefrag) >= c.cfg.EtcdDefragInterval &&
		free >= etcdDefragMinFreeBytes && free >= st.DbSize/2 {
		m.defragment(ctx, "half the db file is free")
	}
}

// noSpaceAlarm reports whether this member has a NOSPACE alarm, and logs
// (once per raise) that it has.
func (m *etcdMaintainer) noSpaceAlarm(ctx context.Context) (bool, error) {
	resp, err := m.c.cli.AlarmList(ctx)
	if err != nil {
		return m.noSpace, err
	}
	raised := false
	for _, a := range resp.Alarms {
		if a.MemberID == uint64(m.c.etcd.Server.MemberID()) && a.Alarm == etcdserverpb.AlarmType_NOSPACE {
			raised = true
		}
	}
	if raised && !m.noSpace {
		m.c.log.Error("etcd is out of space (NOSPACE alarm): metadata writes fail until it is compacted and defragmented; raise --etcd-quota-bytes if this recurs",
			"quota_bytes", m.c.cfg.EtcdQuotaBytes)
	}
	m.noSpace = raised
	m.c.metrics.etcdNoSpace.Set(map[bool]float64{false: 0, true: 1}[raised])
	return raised, nil
}

// recoverNoSpace compacts all history, defragments, and disarms the alarm
// once the db is back under its quota.
func (m *etcdMaintainer) recoverNoSpace(ctx context.Context, st *clientv3.StatusResponse) {
	c := m.c
	cctx, cancel := context.WithTimeout(ctx, etcdMaintenanceTimeout)
	defer cancel()
	if _, err := c.cli.Compact(cctx, st.Header.Revision, clientv3.WithCompactPhysical()); err != nil && !errors.Is(err, rpctypes.ErrCompacted) {
		c.log.Error("etcd NOSPACE: compaction failed", "revision", st.Header.Revision, "err", err)
		return
	}
	if !m.defragment(ctx, "NOSPACE alarm") {
		return
	}
	after, err := c.cli.Status(ctx, "")
	if err != nil {
		c.log.Error("etcd NOSPACE: cannot read the status after defragmenting", "err", err)
		return
	}
	if after.DbSize >= c.cfg.EtcdQuotaBytes*9/10 {
		c.log.Error("etcd NOSPACE: the db is still near its quota after compaction and defragmentation; raise --etcd-quota-bytes",
			"db_size_bytes", after.DbSize, "in_use_bytes", after.DbSizeInUse, "quota_bytes", c.cfg.EtcdQuotaBytes)
		return
	}
	am := &clientv3.AlarmMember{MemberID: uint64(c.etcd.Server.MemberID()), Alarm: etcdserverpb.AlarmType_NOSPACE}
	if _, err := c.cli.AlarmDisarm(ctx, am); err != nil {
		c.log.Error("etcd NOSPACE: cannot disarm the alarm", "err", err)
		return
	}
	m.noSpace = false
	c.metrics.etcdNoSpace.Set(0)
	c.log.Info("etcd NOSPACE alarm disarmed after compaction and defragmentation", "db_size_bytes", after.DbSize, "in_use_bytes", after.DbSizeInUse)
}

// defragment defragments this member; it blocks the member's reads and
// writes while it runs (well under a second for a small db).
func (m *etcdMaintainer) defragment(ctx context.Context, why string) bool {
	c := m.c
	m.lastDefrag = time.Now()
	before, _ := c.cli.Status(ctx, "")
	start := time.Now()
	// Not c.cli.Defragment: the in-process client's maintenance server has
	// no health notifier and panics in Defragment (etcd v3.7 v3client).
	if err := c.etcd.Server.Defragment(); err != nil {
		c.log.Error("etcd defragmentation failed", "reason", why, "err", err)
		return false
	}
	after, err := c.cli.Status(ctx, "")
	if err != nil || before == nil {
		c.log.Info("etcd defragmented", "reason", why, "took", time.Since(start))
		return true
	}
	c.metrics.etcdDBSize.Set(float64(after.DbSizeInUse))
	c.metrics.etcdDBFile.Set(float64(after.DbSize))
	c.log.Info("etcd defragmented", "reason", why, "took", time.Since(start),
		"db_size_before_bytes", before.DbSize, "db_size_after_bytes", after.DbSize, "in_use_bytes", after.DbSizeInUse)
	return true
}

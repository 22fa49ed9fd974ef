package e2e

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Storage fault safety (I9) with real disks: every storage node's data dir
// is its own small tmpfs, so a full disk is the kernel's ENOSPC, not a fault
// hook. A full disk must take the replica offline and move its leadership,
// never lose an acknowledged record, never delete or rewind a log; once
// space is free and the node restarts, the replica rejoins and is
// byte-identical to the others.

// tmpfsSize is each storage node's disk: room for the logs of the test and
// the preallocated (sparse) indexes, small enough to fill in a moment.
const tmpfsSize = "24m"

// fillerFile is what fills a disk; deleting it frees the space.
const fillerFile = "filler"

// tmpfsCluster starts one controller, a gateway and n storage nodes, each
// on a data dir that is a tmpfs of its own. It skips unless it can mount.
func tmpfsCluster(t *testing.T, n int) *cluster {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("not root: a full disk needs a tmpfs per storage node (mount -t tmpfs), which only root can mount")
	}
	c := newCluster(t, clusterSpec{controllers: 1})
	for i := 1; i <= n; i++ {
		dir := filepath.Join(c.dir, fmt.Sprintf("storage-%d", i))
		mountTmpfs(t, dir)
		c.addStorage(withDataDir(dir))
	}
	for _, s := range c.storage {
		waitHealthy(t, s.grpc, 30*time.Second)
	}
	return c
}

// mountTmpfs mounts a tmpfs at dir. Its cleanup is registered before the
// node on it starts, so it runs once the process is gone (and before the
// cluster's temporary directory is removed).
func mountTmpfs(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+tmpfsSize, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs at %s (%v: %s): no way to fill a disk", dir, err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount -l %s: %v: %s", dir, err, out)
		}
	})
}

// fillDisk writes zeros into the data dir until the file system refuses
// with ENOSPC, and returns how many bytes it took.
func fillDisk(t *testing.T, dir string) int64 {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, fillerFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	var total int64
	for {
		n, err := f.Write(buf)
		total += int64(n)
		if errors.Is(err, syscall.ENOSPC) {
			return total
		}
		if err != nil {
			t.Fatalf("filling %s: %v", dir, err)
		}
	}
}

// freeDisk deletes the filler.
func freeDisk(t *testing.T, dir string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, fillerFile)); err != nil {
		t.Fatal(err)
	}
}

// faultPartition is partition 0 in `topic describe -o json`.
type faultPartition struct {
	Leader          int32   `json:"leader"`
	LeaderEpoch     int32   `json:"leader_epoch"`
	Replicas        []int32 `json:"replicas"`
	ISR             []int32 `json:"isr"`
	OfflineReplicas []int32 `json:"offline_replicas"`
	HighWatermark   int64   `json:"high_watermark"`
}

func describeFault(t *testing.T, c *cluster, topic string) (faultPartition, error) {
	out, errOut, code := cli(t, "topic", "describe", topic, "--output", "json", "--server", c.gateway.grpc, "--timeout", "5s")
	if code != 0 {
		return faultPartition{}, fmt.Errorf("describe: %s", errOut)
	}
	var ti struct {
		Partitions []faultPartition `json:"partitions"`
	}
	if err := jsonUnmarshal(out, &ti); err != nil {
		return faultPartition{}, err
	}
	if len(ti.Partitions) == 0 {
		return faultPartition{}, fmt.Errorf("describe %s: no partitions", topic)
	}
	return ti.Partitions[0], nil
}

// waitOffline waits until node's replica shows offline, out of the ISR,
// with another in-sync replica leading.
func waitOffline(t *testing.T, c *cluster, topic string, node int32, timeout time.Duration) faultPartition {
	t.Helper()
	var p faultPartition
	testutil.WaitFor(t, timeout, func() error {
		var err error
		if p, err = describeFault(t, c, topic); err != nil {
			return err
		}
		if p.Leader == node || p.Leader < 0 || !slices.Contains(p.ISR, p.Leader) ||
			!slices.Contains(p.OfflineReplicas, node) || slices.Contains(p.ISR, node) {
			return fmt.Errorf("node %d not offline with the leadership moved: %+v", node, p)
		}
		return nil
	})
	return p
}

// waitOnline waits until no replica is offline and all n are in sync.
func waitOnline(t *testing.T, c *cluster, topic string, n int) faultPartition {
	t.Helper()
	var p faultPartition
	testutil.WaitFor(t, 30*time.Second, func() error {
		var err error
		if p, err = describeFault(t, c, topic); err != nil {
			return err
		}
		if len(p.OfflineReplicas) != 0 || len(p.ISR) != n || p.Leader < 0 {
			return fmt.Errorf("not recovered: %+v", p)
		}
		return nil
	})
	return p
}

// ackedLoad is an idempotent acks=all franz-go producer through the
// gateway. Each record's value carries its sequence number; the load keeps
// the offset of every acknowledged one. It can be started and stopped
// again; the sequence goes on.
type ackedLoad struct {
	t     *testing.T
	cl    *kgo.Client
	topic string

	mu     sync.Mutex
	next   int           // the next sequence number
	acked  map[int]int64 // sequence → offset
	failed int           // records that failed (they may or may not be in the log)

	stopCh chan struct{}
	done   chan struct{}
}

func newLoad(t *testing.T, c *cluster, topic string) *ackedLoad {
	cl := franzClient(t, c, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(20*time.Second))
	return &ackedLoad{t: t, cl: cl, topic: topic, acked: map[int]int64{}}
}

func seqValue(seq int) []byte { return fmt.Appendf(nil, "seq-%08d", seq) }

func valueSeq(v []byte) (int, bool) {
	s, ok := strings.CutPrefix(string(v), "seq-")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// start produces batches of 10 records until stop.
func (l *ackedLoad) start() {
	l.stopCh, l.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(l.done)
		for {
			select {
			case <-l.stopCh:
				return
			default:
			}
			l.mu.Lock()
			recs := make([]*kgo.Record, 10)
			for i := range recs {
				recs[i] = &kgo.Record{Value: seqValue(l.next)}
				l.next++
			}
			l.mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			res := l.cl.ProduceSync(ctx, recs...)
			cancel()
			l.mu.Lock()
			for _, r := range res {
				seq, _ := valueSeq(r.Record.Value)
				if r.Err == nil {
					l.acked[seq] = r.Record.Offset
				} else {
					l.failed++
				}
			}
			l.mu.Unlock()
		}
	}()
}

// stop ends the load and waits for its last batch.
func (l *ackedLoad) stop() {
	close(l.stopCh)
	<-l.done
}

func (l *ackedLoad) ackedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// waitAcked waits until n records in all are acknowledged.
func (l *ackedLoad) waitAcked(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	testutil.WaitFor(t, timeout, func() error {
		if got := l.ackedCount(); got < n {
			return fmt.Errorf("%d of %d records acknowledged (writes must go on, I8)", got, n)
		}
		return nil
	})
}

// consumeToHW reads partition 0 from the start up to the high watermark
// with a franz-go consumer through the gateway.
func consumeToHW(t *testing.T, c *cluster, topic string, hw int64) []*kgo.Record {
	t.Helper()
	cl := franzClient(t, c, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) == 0 || out[len(out)-1].Offset < hw-1 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d records, not up to the high watermark %d", len(out), hw)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Logf("fetch %s-%d: %v", topic, p, err) })
		out = append(out, fs.Records()...)
	}
	return out
}

// checkConsumed checks what a consumer read against the load's history:
// every acknowledged record exactly once at its acknowledged offset (I1,
// I2), nothing twice even among the unacknowledged (I3), offsets
// increasing (I4), nothing that was never sent.
func (l *ackedLoad) checkConsumed(t *testing.T, recs []*kgo.Record) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := map[int]int64{}
	prev := int64(-1)
	for _, r := range recs {
		seq, ok := valueSeq(r.Value)
		if !ok || seq >= l.next {
			t.Fatalf("offset %d holds %q, which was never sent", r.Offset, r.Value)
		}
		if at, dup := seen[seq]; dup {
			t.Fatalf("record %d is in the log twice, at %d and %d (I2/I3)", seq, at, r.Offset)
		}
		if r.Offset <= prev {
			t.Fatalf("offsets go backwards: %d after %d (I4)", r.Offset, prev)
		}
		seen[seq], prev = r.Offset, r.Offset
	}
	for seq, off := range l.acked {
		got, ok := seen[seq]
		if !ok {
			t.Fatalf("acknowledged record %d (offset %d) was lost (I1)", seq, off)
		}
		if got != off {
			t.Fatalf("acknowledged record %d at offset %d is now at %d (I2)", seq, off, got)
		}
	}
	t.Logf("history: %d sent, %d acknowledged, %d failed; the log holds %d", l.next, len(l.acked), l.failed, len(recs))
}

// replicaFiles lists the files of every replica directory under a data
// dir with their sizes (paths relative to the data dir).
func replicaFiles(t *testing.T, dataDir string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	err := filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dataDir, path)
		if d.IsDir() || !strings.Contains(rel, string(filepath.Separator)) {
			return nil // the data dir's own files: meta, lock, filler
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out[rel] = info.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// keptFiles checks that every file of the replica directories in before
// is still there and no segment shrank (I9: a fault never deletes or
// rewinds a log).
func keptFiles(t *testing.T, name string, before, after map[string]int64) {
	t.Helper()
	var logs []string
	for path, size := range before {
		if strings.HasSuffix(path, ".tmp") {
			continue // an atomic write in flight when the process died
		}
		got, ok := after[path]
		if !ok {
			t.Errorf("%s: %s was deleted (I9)", name, path)
			continue
		}
		if !strings.HasSuffix(path, ".log") {
			continue // indexes and checkpoints are rewritten, not appended
		}
		if got < size {
			t.Errorf("%s: %s shrank from %d to %d bytes (I9)", name, path, size, got)
		}
		logs = append(logs, fmt.Sprintf("%s=%d→%d", path, size, got))
	}
	sort.Strings(logs)
	if len(logs) == 0 {
		t.Fatalf("%s: no replica files to compare", name)
	}
	t.Logf("%s kept %d replica files; segments %v", name, len(before), logs)
}

var truncationRe = regexp.MustCompile(`from=(\d+) to=(\d+)`)

// noRewind fails when a process's output shows a truncation of a non-empty
// log down to offset 0 (a replica that threw its log away).
func noRewind(t *testing.T, n *node) {
	t.Helper()
	for _, line := range strings.Split(n.output(), "\n") {
		if !strings.Contains(line, "truncat") {
			continue
		}
		t.Logf("%s: %s", n.name, line)
		if m := truncationRe.FindStringSubmatch(line); m != nil && m[1] != "0" && m[2] == "0" {
			t.Errorf("%s truncated its log to offset 0 (I9): %s", n.name, line)
		}
	}
}

// offlineEvents counts the times a process took a replica offline.
func offlineEvents(n *node, partition string) int {
	count := 0
	for _, line := range strings.Split(n.output(), "\n") {
		if strings.Contains(line, "replica offline after a storage fault") && strings.Contains(line, "partition="+partition+" ") {
			count++
		}
	}
	return count
}

// alive fails unless the process is still running and answers health checks.
func alive(t *testing.T, n *node) {
	t.Helper()
	select {
	case <-n.done:
		t.Fatalf("%s exited on a full disk: %v", n.name, n.cmd.ProcessState)
	default:
	}
	waitHealthy(t, n.grpc, 5*time.Second)
	resp, err := http.Get("http://" + flagValue(n.args, "--http-addr") + "/healthz")
	if err != nil {
		t.Fatalf("%s /healthz: %v", n.name, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s /healthz: %s", n.name, resp.Status)
	}
}

func TestDiskFullLeaderMovesAndLosesNothing(t *testing.T) {
	c := tmpfsCluster(t, 3)
	c.admin("topic", "create", "full", "--partitions", "1", "--replication-factor", "3", "--config", "min.insync.replicas=2")
	waitTopicsReady(t, c, map[string]int{"full": 1})
	waitOnline(t, c, "full", 3)
	rn := nodesByID(t, c)

	load := newLoad(t, c, "full")
	load.start()
	load.waitAcked(t, 200, 30*time.Second)
	p, err := describeFault(t, c, "full")
	if err != nil {
		t.Fatal(err)
	}
	old := p.Leader
	full := rn.byID[old]
	filled := fillDisk(t, full.dataDir)
	since := time.Now()
	t.Logf("filled node %d's disk with %d bytes", old, filled)

	// Leadership moves within 15 s and the full replica shows offline.
	moved := waitOffline(t, c, "full", old, 15*time.Second)
	t.Logf("leadership moved from %d to %d (epoch %d → %d) %s after the disk filled",
		old, moved.Leader, p.LeaderEpoch, moved.LeaderEpoch, time.Since(since).Round(time.Millisecond))
	if moved.LeaderEpoch <= p.LeaderEpoch {
		t.Errorf("leader epoch %d after the move, was %d (I7)", moved.LeaderEpoch, p.LeaderEpoch)
	}
	atMove := load.ackedCount()
	load.waitAcked(t, atMove+100, 20*time.Second)
	// cluster health names the offline replica and its node's log dir.
	if code, problems := clusterHealth(t, c); code == 0 ||
		!slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, fmt.Sprintf("offline replicas on nodes %d", old)) }) ||
		!slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, fmt.Sprintf("storage node %d ", old)) }) {
		t.Errorf("cluster health with node %d's disk full: exit %d, problems %q", old, code, problems)
	}

	// The full node stays up and says so.
	alive(t, full)
	if st, err := nodeState(t, c, old); err != nil || st != "alive" {
		t.Errorf("full node %d is %q (%v), want alive", old, st, err)
	}
	load.stop()

	// Space back, restart: the replica reopens, reports online, catches up.
	freeDisk(t, full.dataDir)
	full.signal(syscall.SIGTERM)
	full.restart(t)
	waitHealthy(t, full.grpc, 30*time.Second)
	p = waitOnline(t, c, "full", 3)
	replicasIdentical(t, rn, "full")
	noRewind(t, full)

	p, err = describeFault(t, c, "full")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stored := readAll(ctx, t, rn.clients[p.Leader], "full")
	var n int64
	for _, b := range stored {
		n += int64(len(b.values))
	}
	if n != p.HighWatermark {
		t.Errorf("the leader serves %d records, high watermark %d", n, p.HighWatermark)
	}
	load.checkConsumed(t, consumeToHW(t, c, "full", p.HighWatermark))
}

func TestDiskFullRestartKeepsReplicas(t *testing.T) {
	c := tmpfsCluster(t, 3)
	c.admin("topic", "create", "keep", "--partitions", "1", "--replication-factor", "3", "--config", "min.insync.replicas=2")
	waitTopicsReady(t, c, map[string]int{"keep": 1})
	waitOnline(t, c, "keep", 3)
	rn := nodesByID(t, c)

	load := newLoad(t, c, "keep")
	load.start()
	load.waitAcked(t, 300, 30*time.Second)
	load.stop()
	replicasIdentical(t, rn, "keep") // the victim holds every acknowledged record

	p, err := describeFault(t, c, "keep")
	if err != nil {
		t.Fatal(err)
	}
	var victimID int32
	for _, r := range p.Replicas {
		if r != p.Leader {
			victimID = r
		}
	}
	victim := rn.byID[victimID]
	victim.kill()
	before := replicaFiles(t, victim.dataDir)
	filled := fillDisk(t, victim.dataDir)
	t.Logf("node %d killed, its disk filled with %d bytes", victimID, filled)

	// It starts on the full disk; new writes reach it and cannot be stored:
	// its replica goes offline, the others go on acknowledging.
	victim.restart(t)
	waitHealthy(t, victim.grpc, 30*time.Second)
	from := load.ackedCount()
	load.start()
	waitOffline(t, c, "keep", victimID, 20*time.Second)
	load.waitAcked(t, from+100, 20*time.Second)
	alive(t, victim)
	keptFiles(t, victim.name, before, replicaFiles(t, victim.dataDir))
	load.stop()

	// Space back, restart: online, in sync, identical, nothing lost.
	freeDisk(t, victim.dataDir)
	victim.kill()
	victim.restart(t)
	p = waitOnline(t, c, "keep", 3)
	replicasIdentical(t, rn, "keep")
	noRewind(t, victim)
	load.checkConsumed(t, consumeToHW(t, c, "keep", p.HighWatermark))
}

func TestDiskFullConfigChangeLosesNothing(t *testing.T) {
	c := tmpfsCluster(t, 3)
	c.admin("topic", "create", "cfg", "--partitions", "1", "--replication-factor", "3", "--config", "min.insync.replicas=2")
	waitTopicsReady(t, c, map[string]int{"cfg": 1})
	waitOnline(t, c, "cfg", 3)
	rn := nodesByID(t, c)

	load := newLoad(t, c, "cfg")
	load.start()
	load.waitAcked(t, 200, 30*time.Second)
	load.stop()
	replicasIdentical(t, rn, "cfg")
	p, err := describeFault(t, c, "cfg")
	if err != nil {
		t.Fatal(err)
	}
	old := p.Leader
	leader := rn.byID[old]
	before := replicaFiles(t, leader.dataDir)

	// The leader's disk fills while it is idle, then a harmless config
	// change makes every node reopen the log: the leader's reopen runs on a
	// full disk (its checkpoint cannot be written).
	filled := fillDisk(t, leader.dataDir)
	t.Logf("filled node %d's disk with %d bytes", old, filled)
	c.admin("topic", "alter", "cfg", "--config", "retention.ms=3600000")
	testutil.WaitFor(t, 10*time.Second, func() error {
		var ti topicInfo
		c.adminJSON(&ti, "topic", "describe", "cfg")
		if ti.Configs["retention.ms"] != "3600000" {
			return fmt.Errorf("configs %v", ti.Configs)
		}
		return nil
	})

	// Writes resume: the leader cannot store them and hands over.
	from := load.ackedCount()
	load.start()
	moved := waitOffline(t, c, "cfg", old, 15*time.Second)
	load.waitAcked(t, from+100, 20*time.Second)
	load.stop()
	alive(t, leader)
	t.Logf("leadership moved from %d to %d", old, moved.Leader)

	// The replica failed once and stayed offline: a log that failed while
	// open (here while closing for the new configs) is not reopened before
	// a restart, as if its data were safe.
	if n := offlineEvents(leader, "cfg-0"); n != 1 {
		t.Errorf("%s took cfg-0 offline %d times, want once (no reopen after a storage fault)", leader.name, n)
	}
	// Nothing deleted or rewound, on the full node or the followers.
	keptFiles(t, leader.name, before, replicaFiles(t, leader.dataDir))
	for id, n := range rn.byID {
		if id != old {
			noRewind(t, n)
		}
	}
	p, err = describeFault(t, c, "cfg")
	if err != nil {
		t.Fatal(err)
	}
	load.checkConsumed(t, consumeToHW(t, c, "cfg", p.HighWatermark))

	// Space back, restart: the old leader rejoins with an identical log.
	freeDisk(t, leader.dataDir)
	leader.kill()
	leader.restart(t)
	waitOnline(t, c, "cfg", 3)
	replicasIdentical(t, rn, "cfg")
	noRewind(t, leader)
}

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	commonv1 "github.com/strata-io/strata/api/strata/common/v1"
	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/codec"
	"github.com/strata-io/strata/internal/testutil"
)

// replicaNodes maps storage node ids to the test's processes and clients.
type replicaNodes struct {
	byID    map[int32]*node
	clients map[int32]storagev1.StorageServiceClient
}

func nodesByID(t *testing.T, c *cluster) replicaNodes {
	t.Helper()
	var cl clusterInfo
	c.adminJSON(&cl, "cluster", "describe")
	rn := replicaNodes{byID: map[int32]*node{}, clients: map[int32]storagev1.StorageServiceClient{}}
	for _, sn := range cl.StorageNodes {
		for _, n := range c.storage {
			if n.grpc == sn.Address {
				rn.byID[sn.ID] = n
				conn, err := dialRole(n.grpc)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { conn.Close() })
				rn.clients[sn.ID] = storagev1.NewStorageServiceClient(conn)
			}
		}
	}
	return rn
}

func describePartition(t *testing.T, c *cluster, topic string, p int) (partitionInfo, error) {
	out, errOut, code := cli(t, "topic", "describe", topic, "--output", "json", "--server", c.gateway.grpc, "--timeout", "5s")
	if code != 0 {
		return partitionInfo{}, fmt.Errorf("describe: %s", errOut)
	}
	var ti topicInfo
	if err := jsonUnmarshal(out, &ti); err != nil {
		return partitionInfo{}, err
	}
	return ti.Partitions[p], nil
}

// historyProducer sends acks=all batches to whoever leads the partition,
// recording which were acknowledged, which failed for sure, and which are
// unknown (the connection broke).
type historyProducer struct {
	mu        sync.Mutex
	acked     map[string]int64 // batch prefix → base offset
	ambiguous map[string]bool
	refused   map[string]string // definitely not written, with the error
	notEnough int               // NOT_ENOUGH_REPLICAS answers
}

func (h *historyProducer) run(ctx context.Context, t *testing.T, c *cluster, rn replicaNodes, topic string, stop <-chan struct{}) {
	h.acked, h.ambiguous, h.refused = map[string]int64{}, map[string]bool{}, map[string]string{}
	leader := int32(-1)
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		if leader < 0 {
			if p, err := describePartition(t, c, topic, 0); err == nil && p.Leader >= 0 {
				leader = p.Leader
			} else {
				time.Sleep(50 * time.Millisecond) // waiting for an election; not synchronisation
				i--
				continue
			}
		}
		prefix := fmt.Sprintf("b%d", i)
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err := rn.clients[leader].Produce(pctx, &storagev1.ProduceRequest{Acks: storagev1.Acks_ACKS_ALL, TimeoutMs: 8000,
			Partitions: []*storagev1.ProducePartition{{Topic: topic, Partition: 0, Records: batchOf(t, codec.None, prefix, 5, int64(i))}}})
		cancel()
		h.mu.Lock()
		switch {
		case err != nil:
			h.ambiguous[prefix] = true
			leader = -1
		case resp.GetPartitions()[0].GetError() == nil:
			h.acked[prefix] = resp.GetPartitions()[0].GetBaseOffset()
		default:
			e := resp.GetPartitions()[0].GetError()
			switch e.GetCode() {
			case commonv1.ErrorCode_ERROR_CODE_NOT_ENOUGH_REPLICAS:
				h.notEnough++ // refused before the append
				h.refused[prefix] = e.GetCode().String()
			default:
				// Timed out, the ISR shrank, or leadership moved after the
				// append (Kafka answers NOT_LEADER_OR_FOLLOWER then too):
				// the batch may or may not survive.
				h.ambiguous[prefix] = true
				leader = -1
			}
		}
		h.mu.Unlock()
	}
}

// startHistory runs a historyProducer on partition 0 of topic until the
// returned stop function is called (stop waits for it to finish).
func startHistory(ctx context.Context, t *testing.T, c *cluster, rn replicaNodes, topic string) (*historyProducer, func()) {
	h := &historyProducer{}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.run(ctx, t, c, rn, topic, stop)
	}()
	return h, func() {
		close(stop)
		<-done
	}
}

// waitAcked waits until at least n more batches than from are acknowledged.
func (h *historyProducer) waitAcked(t *testing.T, from, n int) {
	t.Helper()
	testutil.WaitFor(t, 60*time.Second, func() error {
		if got := h.ackedCount() - from; got < n {
			return fmt.Errorf("%d of %d batches acknowledged (writes must resume, I8)", got, n)
		}
		return nil
	})
}

func (h *historyProducer) ackedCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.acked)
}

// readAll reads the whole committed log from the partition's leader.
func readAll(ctx context.Context, t *testing.T, client storagev1.StorageServiceClient, topic string) []storedBatch {
	t.Helper()
	var all []storedBatch
	offset := int64(0)
	for {
		fr, err := fetch(ctx, client, topic, 0, offset, 0, 0)
		if err != nil || fr.GetError() != nil {
			t.Fatalf("fetch at %d: %v %v", offset, err, fr.GetError())
		}
		got := decodeBatches(t, fr.GetRecords())
		if len(got) == 0 {
			return all
		}
		all = append(all, got...)
		last := got[len(got)-1]
		offset = last.base + int64(len(last.values))
	}
}

// checkHistory verifies the recorded history against the final log: every
// acknowledged batch is there once at its offset, in order, and nothing was
// written twice.
func checkHistory(t *testing.T, h *historyProducer, log []storedBatch) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := map[string]int64{}
	prev := int64(-1)
	for _, b := range log {
		prefix := b.values[0][:len(b.values[0])-2]
		if _, dup := seen[prefix]; dup {
			t.Fatalf("batch %s is in the log twice (I2/I3)", prefix)
		}
		if b.base <= prev {
			t.Fatalf("offsets go backwards at %d (I4)", b.base)
		}
		seen[prefix], prev = b.base, b.base
		if why, ok := h.refused[prefix]; ok {
			t.Fatalf("batch %s is in the log but was refused with %s (I6)", prefix, why)
		}
		if _, ok := h.acked[prefix]; !ok && !h.ambiguous[prefix] {
			t.Fatalf("batch %s is in the log but was never sent", prefix)
		}
	}
	for prefix, off := range h.acked {
		got, ok := seen[prefix]
		if !ok {
			t.Fatalf("acknowledged batch %s (offset %d) was lost (I1)", prefix, off)
		}
		if got != off {
			t.Fatalf("acknowledged batch %s at offset %d is now at %d (I2)", prefix, off, got)
		}
	}
	t.Logf("history: %d acknowledged, %d unknown, %d refused with NOT_ENOUGH_REPLICAS; log holds %d batches", len(h.acked), len(h.ambiguous), h.notEnough, len(log))
}

// segmentBytes returns the concatenated segment files of a replica, cut at
// limit bytes of batches (whole logs are compared up to the high watermark).
func replicaLog(t *testing.T, n *node, topic string) []byte {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(n.dataDir, topic+"-0", "*.log"))
	sort.Strings(files)
	var out []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	return out
}

// replicasIdentical waits until every replica's log bytes are equal.
func replicasIdentical(t *testing.T, rn replicaNodes, topic string) {
	t.Helper()
	testutil.WaitFor(t, 20*time.Second, func() error {
		var ref []byte
		var refID int32
		for id, n := range rn.byID {
			b := replicaLog(t, n, topic)
			if ref == nil {
				ref, refID = b, id
				continue
			}
			if !bytes.Equal(ref, b) {
				return fmt.Errorf("replica logs differ: node %d has %d bytes, node %d has %d", refID, len(ref), id, len(b))
			}
		}
		return nil
	})
}

func TestReplicationAcksAllSurvivesLeaderKill(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 3})
	c.admin("topic", "create", "repl", "--partitions", "1", "--replication-factor", "3", "--config", "min.insync.replicas=2")
	rn := nodesByID(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	h, stopHistory := startHistory(ctx, t, c, rn, "repl")
	h.waitAcked(t, 0, 50)
	p, err := describePartition(t, c, "repl", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.ISR) != 3 {
		t.Fatalf("ISR before the kill: %v", p.ISR)
	}
	old := p.Leader
	rn.byID[old].signal(syscall.SIGKILL)
	before := h.ackedCount()
	testutil.WaitFor(t, 30*time.Second, func() error {
		p, err := describePartition(t, c, "repl", 0)
		if err != nil {
			return err
		}
		if p.Leader == old || p.Leader < 0 || !slices.Contains(p.ISR, p.Leader) {
			return fmt.Errorf("leader %d, ISR %v", p.Leader, p.ISR)
		}
		if n := h.ackedCount(); n < before+50 {
			return fmt.Errorf("%d acknowledged since the kill", n-before)
		}
		return nil
	})
	stopHistory()

	// The old leader returns as a follower and catches up.
	rn.byID[old].restart(t)
	p, _ = describePartition(t, c, "repl", 0)
	checkHistory(t, h, readAll(ctx, t, rn.clients[p.Leader], "repl"))
	testutil.WaitFor(t, 30*time.Second, func() error {
		p, err := describePartition(t, c, "repl", 0)
		if err == nil && len(p.ISR) != 3 {
			err = fmt.Errorf("ISR %v", p.ISR)
		}
		return err
	})
	replicasIdentical(t, rn, "repl")
}

func TestReplicationISRShrinksAndGrows(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 3})
	c.admin("topic", "create", "isr", "--partitions", "1", "--replication-factor", "3", "--config", "min.insync.replicas=2")
	rn := nodesByID(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p, _ := describePartition(t, c, "isr", 0)
	leader := rn.clients[p.Leader]
	var followers []int32
	for _, r := range p.Replicas {
		if r != p.Leader {
			followers = append(followers, r)
		}
	}
	send := func(prefix string) *commonv1.ErrorDetail {
		t.Helper()
		resp, err := leader.Produce(ctx, &storagev1.ProduceRequest{Acks: storagev1.Acks_ACKS_ALL, TimeoutMs: 10000,
			Partitions: []*storagev1.ProducePartition{{Topic: "isr", Partition: 0, Records: batchOf(t, codec.None, prefix, 3, 1)}}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetPartitions()[0].GetError()
	}
	testutil.WaitFor(t, 10*time.Second, func() error {
		if e := send("warmup"); e != nil {
			return fmt.Errorf("%v", e)
		}
		return nil
	})

	// One follower stops: the ISR shrinks to 2 and acks=all goes on.
	rn.byID[followers[0]].pause()
	testutil.WaitFor(t, 20*time.Second, func() error {
		p, err := describePartition(t, c, "isr", 0)
		if err == nil && (len(p.ISR) != 2 || slices.Contains(p.ISR, followers[0])) {
			err = fmt.Errorf("ISR %v", p.ISR)
		}
		return err
	})
	for i := range 10 {
		if e := send(fmt.Sprintf("two%d", i)); e != nil {
			t.Fatalf("acks=all with 2 of 3 in sync: %v", e)
		}
	}

	// A second follower stops: below min.insync.replicas, nothing is written.
	rn.byID[followers[1]].pause()
	testutil.WaitFor(t, 20*time.Second, func() error {
		p, err := describePartition(t, c, "isr", 0)
		if err == nil && len(p.ISR) != 1 {
			err = fmt.Errorf("ISR %v", p.ISR)
		}
		return err
	})
	hwBefore := readAll(ctx, t, leader, "isr")
	if e := send("refused"); e.GetCode() != commonv1.ErrorCode_ERROR_CODE_NOT_ENOUGH_REPLICAS || e.GetKafkaErrorCode() != 19 {
		t.Fatalf("acks=all with 1 in sync: %v", e)
	}

	// Both return: the ISR grows back and the logs are byte-identical.
	for _, f := range followers {
		rn.byID[f].resume()
	}
	testutil.WaitFor(t, 30*time.Second, func() error {
		p, err := describePartition(t, c, "isr", 0)
		if err == nil && len(p.ISR) != 3 {
			err = fmt.Errorf("ISR %v", p.ISR)
		}
		return err
	})
	if e := send("after"); e != nil {
		t.Fatalf("acks=all after recovery: %v", e)
	}
	after := readAll(ctx, t, leader, "isr")
	if len(after) != len(hwBefore)+1 {
		t.Fatalf("log has %d batches, want %d: the refused batch must not be there", len(after), len(hwBefore)+1)
	}
	for _, b := range after {
		if b.values[0] == "refused-0" {
			t.Fatal("a batch refused with NOT_ENOUGH_REPLICAS is visible (I6)")
		}
	}
	replicasIdentical(t, rn, "isr")
}

func TestReplicationTruncatesDivergentTail(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 3})
	c.admin("topic", "create", "div", "--partitions", "1", "--replication-factor", "3")
	rn := nodesByID(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, _ := describePartition(t, c, "div", 0)
	old := p.Leader
	produceTo := func(id int32, prefix string, acks storagev1.Acks) {
		t.Helper()
		testutil.WaitFor(t, 20*time.Second, func() error {
			resp, err := rn.clients[id].Produce(ctx, &storagev1.ProduceRequest{Acks: acks, TimeoutMs: 5000,
				Partitions: []*storagev1.ProducePartition{{Topic: "div", Partition: 0, Records: batchOf(t, codec.None, prefix, 4, 1)}}})
			if err == nil && resp.GetPartitions()[0].GetError() != nil {
				err = fmt.Errorf("%v", resp.GetPartitions()[0].GetError())
			}
			return err
		})
	}
	produceTo(old, "committed", storagev1.Acks_ACKS_ALL)

	// The followers freeze; the leader takes an acks=1 write they never see.
	var followers []int32
	for _, r := range p.Replicas {
		if r != old {
			followers = append(followers, r)
			rn.byID[r].pause()
		}
	}
	// Wait until the leader has answered the followers' last fetches (they
	// wait at most 500 ms), so the next write cannot reach them.
	testutil.WaitFor(t, 10*time.Second, func() error {
		resp, err := rn.clients[old].ListReplicas(ctx, &storagev1.ListReplicasRequest{})
		if err != nil {
			return err
		}
		for _, r := range resp.GetReplicas() {
			for _, f := range r.GetFollowers() {
				if f.GetNodeId() != old && f.GetCaughtUpMsAgo() < 800 {
					return fmt.Errorf("follower %d fetched %d ms ago", f.GetNodeId(), f.GetCaughtUpMsAgo())
				}
			}
		}
		return nil
	})
	produceTo(old, "divergent", storagev1.Acks_ACKS_LEADER)
	rn.byID[old].signal(syscall.SIGKILL)
	for _, f := range followers {
		rn.byID[f].resume()
	}

	// A follower from the ISR takes over and accepts new writes.
	var next int32
	testutil.WaitFor(t, 30*time.Second, func() error {
		p, err := describePartition(t, c, "div", 0)
		if err != nil {
			return err
		}
		if p.Leader == old || p.Leader < 0 {
			return fmt.Errorf("leader %d", p.Leader)
		}
		next = p.Leader
		return nil
	})
	produceTo(next, "newleader", storagev1.Acks_ACKS_LEADER)

	// The old leader returns, truncates its divergent batch, and copies the new one.
	rn.byID[old].restart(t)
	replicasIdentical(t, rn, "div")
	log := readAll(ctx, t, rn.clients[next], "div")
	var prefixes []string
	for _, b := range log {
		prefixes = append(prefixes, b.values[0])
	}
	if !slices.Equal(prefixes, []string{"committed-0", "newleader-0"}) {
		t.Fatalf("log after failover: %v", prefixes)
	}
	if out := rn.byID[old].output(); !bytes.Contains([]byte(out), []byte("truncating divergent tail")) {
		t.Errorf("the old leader did not report truncating its divergent tail")
	}
}

func TestReplicationPausedLeaderIsFenced(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 3})
	c.admin("topic", "create", "pause", "--partitions", "1", "--replication-factor", "3", "--config", "min.insync.replicas=2")
	rn := nodesByID(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	h, stopHistory := startHistory(ctx, t, c, rn, "pause")
	h.waitAcked(t, 0, 50)
	p, _ := describePartition(t, c, "pause", 0)
	old := p.Leader
	oldEpoch := p.LeaderEpoch

	// Freeze the leader past its lease: the controller elects another.
	rn.byID[old].pause()
	testutil.WaitFor(t, 30*time.Second, func() error {
		p, err := describePartition(t, c, "pause", 0)
		if err == nil && (p.Leader == old || p.Leader < 0 || p.LeaderEpoch <= oldEpoch) {
			err = fmt.Errorf("leader %d epoch %d", p.Leader, p.LeaderEpoch)
		}
		return err
	})
	h.waitAcked(t, h.ackedCount(), 30)

	// The old leader wakes up: fenced by the new epoch, it follows and rejoins.
	rn.byID[old].resume()
	testutil.WaitFor(t, 30*time.Second, func() error {
		p, err := describePartition(t, c, "pause", 0)
		if err == nil && (len(p.ISR) != 3 || p.Leader == old) {
			err = fmt.Errorf("leader %d ISR %v", p.Leader, p.ISR)
		}
		return err
	})
	stopHistory()
	p, _ = describePartition(t, c, "pause", 0)
	checkHistory(t, h, readAll(ctx, t, rn.clients[p.Leader], "pause"))
	replicasIdentical(t, rn, "pause")
}

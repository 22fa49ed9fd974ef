package e2e

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/recordbatch"
	"github.com/strata-io/strata/internal/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// cutDialer dials normally until cut, then closes every connection it made
// and refuses new ones: the client looks dead to the cluster, without a
// LeaveGroup (as after a crash).
type cutDialer struct {
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

func (d *cutDialer) dial(ctx context.Context, network, host string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cut {
		return nil, fmt.Errorf("cut")
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, host)
	if err == nil {
		d.conns = append(d.conns, c)
	}
	return c, err
}

func (d *cutDialer) cutAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cut = true
	for _, c := range d.conns {
		c.Close()
	}
}

type groupMember struct {
	cl       *kgo.Client
	dialer   *cutDialer
	mu       sync.Mutex
	assigned map[int32]bool
	got      atomic.Int64
}

func (m *groupMember) partitions() map[int32]bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[int32]bool{}
	for p := range m.assigned {
		out[p] = true
	}
	return out
}

func startMember(t *testing.T, c *cluster, group, topic string, seen *sync.Map, extra ...kgo.Opt) *groupMember {
	m := &groupMember{dialer: &cutDialer{}, assigned: map[int32]bool{}}
	opts := append([]kgo.Opt{kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(6 * time.Second), kgo.HeartbeatInterval(500 * time.Millisecond),
		kgo.Dialer(m.dialer.dial),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, p := range a[topic] {
				m.assigned[p] = true
			}
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, r map[string][]int32) {
			m.mu.Lock()
			for _, p := range r[topic] {
				delete(m.assigned, p)
			}
			m.mu.Unlock()
			_ = cl.CommitMarkedOffsets(ctx)
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, l map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, p := range l[topic] {
				delete(m.assigned, p)
			}
		}),
	}, extra...)
	m.cl = franzClient(t, c, opts...)
	go func() {
		for {
			fs := m.cl.PollFetches(context.Background())
			if fs.IsClientClosed() {
				return
			}
			fs.EachRecord(func(r *kgo.Record) {
				seen.Store(string(r.Value), true)
				m.got.Add(1)
			})
		}
	}()
	return m
}

func produceValues(t *testing.T, c *cluster, topic, prefix string, n int) {
	t.Helper()
	p := franzClient(t, c, kgo.DefaultProduceTopic(topic))
	var rs []*kgo.Record
	for i := range n {
		rs = append(rs, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("%s-%d", prefix, i))})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	p.Close()
}

func countSeen(seen *sync.Map) int {
	n := 0
	seen.Range(func(_, _ any) bool { n++; return true })
	return n
}

// Three members share six partitions; one dies (no LeaveGroup) and the
// other two get its partitions after the session timeout; committed
// offsets survive a controller restart and a new member resumes from them.
func TestKafkaFranzGoConsumerGroup(t *testing.T) {
	c := kafkaCluster(t, map[string]int{"grp": 6})
	produceValues(t, c, "grp", "a", 600)
	var seen sync.Map
	members := []*groupMember{
		startMember(t, c, "g1", "grp", &seen), startMember(t, c, "g1", "grp", &seen), startMember(t, c, "g1", "grp", &seen),
	}
	testutil.WaitFor(t, 60*time.Second, func() error {
		total := 0
		for i, m := range members {
			n := len(m.partitions())
			if n != 2 {
				return fmt.Errorf("member %d has %d partitions", i, n)
			}
			total += n
		}
		if countSeen(&seen) != 600 {
			return fmt.Errorf("seen %d of 600", countSeen(&seen))
		}
		return nil
	})
	// Kill member 0: its two partitions move to the others.
	members[0].dialer.cutAll()
	testutil.WaitFor(t, 30*time.Second, func() error {
		a, b := members[1].partitions(), members[2].partitions()
		if len(a)+len(b) != 6 {
			return fmt.Errorf("the survivors hold %d and %d partitions", len(a), len(b))
		}
		return nil
	})
	produceValues(t, c, "grp", "b", 300)
	testutil.WaitFor(t, 30*time.Second, func() error {
		if n := countSeen(&seen); n != 900 {
			return fmt.Errorf("seen %d of 900", n)
		}
		return nil
	})
	for _, m := range members[1:] {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := m.cl.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("commit: %v", err)
		}
		cancel()
		m.cl.Close()
	}
	// The controller restarts: offsets are in etcd.
	ctrl := c.controllers[0]
	ctrl.kill()
	ctrl.restart(t)
	waitHealthy(t, ctrl.grpc, 60*time.Second)
	produceValues(t, c, "grp", "c", 60)
	var after sync.Map
	m := startMember(t, c, "g1", "grp", &after)
	testutil.WaitFor(t, 60*time.Second, func() error {
		if n := countSeen(&after); n < 60 {
			return fmt.Errorf("the new member saw %d of 60 new records", n)
		}
		return nil
	})
	time.Sleep(time.Second)
	after.Range(func(k, _ any) bool {
		if v := k.(string); v[0] != 'c' {
			t.Errorf("after the restart the group re-read %q: committed offsets were lost", v)
		}
		return true
	})
	// DescribeGroups and ListGroups see the group.
	adm := franzClient(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dreq := kmsg.NewPtrDescribeGroupsRequest()
	dreq.Groups = []string{"g1"}
	dresp, err := dreq.RequestWith(ctx, adm)
	if err != nil || len(dresp.Groups) != 1 || dresp.Groups[0].State != "Stable" || len(dresp.Groups[0].Members) != 1 {
		t.Fatalf("describe groups: %v %+v", err, dresp)
	}
	m.cl.Close()
}

// The idempotent producer: a retried batch is not written twice, a gap in
// sequences is refused, and an older producer epoch is fenced.
func TestKafkaIdempotentProduce(t *testing.T) {
	c := kafkaCluster(t, map[string]int{"idem": 1})
	cl := franzClient(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	init := kmsg.NewPtrInitProducerIDRequest()
	iresp, err := init.RequestWith(ctx, cl)
	if err != nil || iresp.ErrorCode != 0 {
		t.Fatalf("init producer id: %v %+v", err, iresp)
	}
	pid, epoch := iresp.ProducerID, iresp.ProducerEpoch
	produce := func(seq int32, epoch int16, n int) (int64, int16) {
		t.Helper()
		var recs []recordbatch.BuildRecord
		for i := range n {
			recs = append(recs, recordbatch.BuildRecord{Value: []byte(fmt.Sprintf("v%d", int(seq)+i)), Timestamp: time.Now().UnixMilli()})
		}
		raw, err := recordbatch.Build(recordbatch.BatchOptions{ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq}, recs)
		if err != nil {
			t.Fatal(err)
		}
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 5000
		req.Topics = []kmsg.ProduceRequestTopic{{Topic: "idem", Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: raw}}}}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		p := resp.Topics[0].Partitions[0]
		return p.BaseOffset, p.ErrorCode
	}
	if off, code := produce(0, epoch, 3); code != 0 || off != 0 {
		t.Fatalf("first batch: offset %d code %d", off, code)
	}
	if off, code := produce(3, epoch, 2); code != 0 || off != 3 {
		t.Fatalf("second batch: offset %d code %d", off, code)
	}
	if off, code := produce(3, epoch, 2); code != 0 || off != 3 {
		t.Fatalf("retried batch: offset %d code %d, want the original offset 3", off, code)
	}
	if _, code := produce(9, epoch, 1); code != 45 {
		t.Fatalf("sequence gap: code %d, want OUT_OF_ORDER_SEQUENCE_NUMBER (45)", code)
	}
	if off, code := produce(0, epoch+1, 1); code != 0 || off != 5 {
		t.Fatalf("new epoch: offset %d code %d", off, code)
	}
	if _, code := produce(5, epoch, 1); code != 47 {
		t.Fatalf("old epoch: code %d, want INVALID_PRODUCER_EPOCH (47)", code)
	}
	// The log holds six records: the duplicate was not written.
	lreq := kmsg.NewPtrListOffsetsRequest()
	lreq.Topics = []kmsg.ListOffsetsRequestTopic{{Topic: "idem", Partitions: []kmsg.ListOffsetsRequestTopicPartition{{Partition: 0, Timestamp: -1, CurrentLeaderEpoch: -1}}}}
	lresp, err := lreq.RequestWith(ctx, cl)
	if err != nil || lresp.Topics[0].Partitions[0].Offset != 6 {
		t.Fatalf("end offset: %v %+v", err, lresp)
	}
	// After a restart of the partition's storage node the state is rebuilt
	// from the log: the retried batch is still recognised.
	for _, n := range c.storage {
		n.kill()
		n.restart(t)
	}
	for _, n := range c.storage {
		waitHealthy(t, n.grpc, 30*time.Second)
	}
	testutil.WaitFor(t, 30*time.Second, func() error {
		if off, code := produce(0, epoch+1, 1); code != 0 || off != 5 {
			return fmt.Errorf("retry after restart: offset %d code %d, want 5", off, code)
		}
		return nil
	})
}

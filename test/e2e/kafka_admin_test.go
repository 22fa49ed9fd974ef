package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	kafkago "github.com/segmentio/kafka-go"
	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Kafka admin APIs (DeleteRecords, DescribeProducers, DescribeLogDirs,
// broker DescribeConfigs, ElectLeaders, partition reassignments) driven by
// real clients against a multi-process cluster.

// replicaOn returns one partition's replica as a storage node reports it.
func replicaOn(n *node, topic string, partition int32) (*storagev1.Replica, error) {
	conn, err := dialRole(n.grpc)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := storagev1.NewStorageServiceClient(conn).ListReplicas(ctx, &storagev1.ListReplicasRequest{})
	if err != nil {
		return nil, err
	}
	for _, r := range resp.GetReplicas() {
		if r.GetTopic() == topic && r.GetPartition() == partition {
			return r, nil
		}
	}
	return nil, fmt.Errorf("node %s holds no replica of %s-%d", n.grpc, topic, partition)
}

// waitLogStart waits until the replica on n starts at want.
func waitLogStart(t *testing.T, n *node, topic string, partition int32, want int64, timeout time.Duration) {
	t.Helper()
	testutil.WaitFor(t, timeout, func() error {
		r, err := replicaOn(n, topic, partition)
		if err != nil {
			return err
		}
		if r.GetLogStartOffset() != want {
			return fmt.Errorf("replica on %s starts at %d, want %d", n.grpc, r.GetLogStartOffset(), want)
		}
		return nil
	})
}

func produceN(t *testing.T, cl *kgo.Client, topic string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var rs []*kgo.Record
	for i := range n {
		rs = append(rs, &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))})
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatalf("produce %d records to %s: %v", n, topic, err)
	}
}

// fetchAt fetches one partition at offset and returns the partition's error.
func fetchAt(ctx context.Context, cl *kgo.Client, topic string, partition int32, offset int64) (*kmsg.FetchResponseTopicPartition, error) {
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 11, 100, 1, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = partition, offset, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return nil, fmt.Errorf("fetch answered %+v", resp)
	}
	return &resp.Topics[0].Partitions[0], nil
}

// DeleteRecords moves the log start on every replica, survives restarts,
// and a follower that was down honours it when it returns.
func TestKafkaDeleteRecords(t *testing.T) {
	c := kafkaCluster(t, map[string]int{"dr": 1})
	cl := franzClient(t, c, kgo.DefaultProduceTopic("dr"))
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	produceN(t, cl, "dr", 100)

	del := func(offset int64) kadm.DeleteRecordsResponse {
		t.Helper()
		os := kadm.Offsets{}
		os.Add(kadm.Offset{Topic: "dr", Partition: 0, At: offset})
		rs, err := adm.DeleteRecords(ctx, os)
		if err != nil {
			t.Fatalf("delete records before %d: %v", offset, err)
		}
		r, ok := rs.Lookup("dr", 0)
		if !ok {
			t.Fatalf("delete records before %d: no answer for dr-0: %+v", offset, rs)
		}
		return r
	}
	if r := del(40); r.Err != nil || r.LowWatermark != 40 {
		t.Fatalf("delete before 40: low watermark %d, %v; want 40", r.LowWatermark, r.Err)
	}
	// The low watermark counts every live replica: all of them start at 40.
	for _, n := range c.storage {
		if r, err := replicaOn(n, "dr", 0); err != nil || r.GetLogStartOffset() != 40 {
			t.Errorf("replica on %s: %v, %v; want log start 40", n.grpc, r, err)
		}
	}
	if r := del(1000); !errors.Is(r.Err, kerr.OffsetOutOfRange) {
		t.Errorf("delete beyond the high watermark: %v, want OFFSET_OUT_OF_RANGE", r.Err)
	}
	starts, err := adm.ListStartOffsets(ctx, "dr")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := starts.Lookup("dr", 0); o.Err != nil || o.Offset != 40 {
		t.Errorf("ListOffsets earliest: %+v, want 40", o)
	}
	if p, err := fetchAt(ctx, cl, "dr", 0, 10); err != nil || p.ErrorCode != kerr.OffsetOutOfRange.Code || p.LogStartOffset != 40 {
		t.Errorf("fetch below the log start: %+v %v, want OFFSET_OUT_OF_RANGE with log start 40", p, err)
	}
	if p, err := fetchAt(ctx, cl, "dr", 0, 40); err != nil || p.ErrorCode != 0 || len(p.RecordBatches) == 0 {
		t.Errorf("fetch at the log start: %+v %v, want records", p, err)
	}

	// A follower is down while more records are deleted; when it returns
	// it starts at the new log start too.
	var leader, follower *node
	for _, p := range describePartitions(t, c, "dr") {
		leader = nodeWithID(t, c, p.Leader)
		for _, r := range p.Replicas {
			if r != p.Leader {
				follower = nodeWithID(t, c, r)
				break
			}
		}
	}
	follower.kill()
	testutil.WaitFor(t, 20*time.Second, func() error {
		var ci clusterInfo
		c.adminJSON(&ci, "cluster", "describe")
		for _, s := range ci.StorageNodes {
			if s.Address == follower.grpc && s.State != "dead" {
				return fmt.Errorf("storage node %s is %s", s.Address, s.State)
			}
		}
		return nil
	})
	produceN(t, cl, "dr", 50)
	if r := del(-1); r.Err != nil || r.LowWatermark != 150 {
		t.Fatalf("delete before the high watermark (-1): %d, %v; want 150", r.LowWatermark, r.Err)
	}
	follower.restart(t)
	waitLogStart(t, follower, "dr", 0, 150, 30*time.Second)

	// The log start is checkpointed: the leader keeps it across a restart.
	leader.kill()
	leader.restart(t)
	waitHealthy(t, leader.grpc, 30*time.Second)
	waitLogStart(t, leader, "dr", 0, 150, 30*time.Second)
	testutil.WaitFor(t, 30*time.Second, func() error {
		starts, err := adm.ListStartOffsets(ctx, "dr")
		if err != nil {
			return err
		}
		if o, _ := starts.Lookup("dr", 0); o.Err != nil || o.Offset != 150 {
			return fmt.Errorf("ListOffsets earliest after restarts: %+v, want 150", o)
		}
		return nil
	})
}

// DescribeProducers reports the idempotent producers of each partition
// leader; DescribeLogDirs the replicas' sizes on every storage node; a
// broker's DescribeConfigs Kafka's broker configs.
func TestKafkaDescribeProducersLogDirsAndBrokerConfigs(t *testing.T) {
	c := kafkaCluster(t, map[string]int{"dp": 2})
	cl := franzClient(t, c, kgo.DefaultProduceTopic("dp"), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	before := time.Now().Add(-time.Second).UnixMilli()
	var rs []*kgo.Record
	for i := range 30 {
		rs = append(rs, &kgo.Record{Topic: "dp", Partition: 0, Value: []byte(strings.Repeat("v", 100) + strconv.Itoa(i))})
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	pid, epoch, err := cl.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pid < 0 {
		t.Fatalf("the producer is not idempotent: id %d", pid)
	}

	// DescribeProducers.
	dps, err := adm.DescribeProducers(ctx, kadm.TopicsSet{"dp": {0: {}, 1: {}}})
	if err != nil {
		t.Fatal(err)
	}
	p0, ok := dps["dp"].Partitions[0]
	if !ok || p0.Err != nil || len(p0.ActiveProducers) != 1 {
		t.Fatalf("describe producers of dp-0: %+v", dps)
	}
	for _, ap := range p0.ActiveProducers {
		if ap.ProducerID != pid || ap.ProducerEpoch != epoch || ap.LastSequence != 29 || ap.LastTimestamp < before ||
			ap.CoordinatorEpoch != -1 || ap.CurrentTxnStartOffset != -1 {
			t.Errorf("producer of dp-0: %+v, want id %d epoch %d last sequence 29", ap, pid, epoch)
		}
	}
	if p1 := dps["dp"].Partitions[1]; p1.Err != nil || len(p1.ActiveProducers) != 0 {
		t.Errorf("dp-1 has no producers: %+v", p1)
	}

	// DescribeLogDirs: each storage node has one dir holding both
	// partitions; dp-0's replicas hold the records.
	all, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 {
		t.Fatalf("log dirs from %d brokers, want the one gateway: %+v", len(all), all)
	}
	for _, dirs := range all {
		if len(dirs) != 3 {
			t.Fatalf("%d log dirs, want one per storage node: %+v", len(dirs), dirs)
		}
		for name, d := range dirs {
			if d.Err != nil || !strings.HasPrefix(name, "storage-") {
				t.Errorf("log dir %q: %+v", name, d)
			}
			if p, ok := d.Topics["dp"][0]; !ok || p.Size < 30*100 {
				t.Errorf("log dir %q: dp-0 %+v, want at least 3000 bytes", name, p)
			}
			if _, ok := d.Topics["dp"][1]; !ok {
				t.Errorf("log dir %q lacks dp-1", name)
			}
		}
	}
	// sarama (v4 requests) sees the volumes' total and usable bytes.
	scfg := sarama.NewConfig()
	scfg.Version = sarama.V3_6_0_0
	sadm, err := sarama.NewClusterAdmin([]string{c.kafka}, scfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sadm.Close()
	sdirs, err := sadm.DescribeLogDirs(nil)
	if err != nil {
		t.Fatal(err)
	}
	for broker, dirs := range sdirs {
		for _, d := range dirs {
			if d.ErrorCode != 0 || d.TotalBytes <= 0 || d.UsableBytes <= 0 || d.UsableBytes > d.TotalBytes {
				t.Errorf("sarama: broker %d log dir %+v, want total and usable bytes", broker, d)
			}
		}
	}
	// A dead storage node's dir is KAFKA_STORAGE_ERROR.
	c.storage[2].kill()
	testutil.WaitFor(t, 20*time.Second, func() error {
		all, err := adm.DescribeAllLogDirs(ctx, kadm.TopicsSet{"dp": {0: {}}})
		if err != nil {
			return err
		}
		failed := 0
		for _, dirs := range all {
			for _, d := range dirs {
				if errors.Is(d.Err, kerr.KafkaStorageError) {
					failed++
				}
			}
		}
		if failed != 1 {
			return fmt.Errorf("%d dirs with KAFKA_STORAGE_ERROR, want 1: %+v", failed, all)
		}
		return nil
	})

	// Broker configs.
	brokers, err := adm.ListBrokers(ctx)
	if err != nil || len(brokers) != 1 {
		t.Fatalf("brokers: %v %v", brokers, err)
	}
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.IncludeDocumentation = true
	res := kmsg.NewDescribeConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeBroker, strconv.Itoa(int(brokers[0].NodeID))
	req.Resources = append(req.Resources, res)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Resources) != 1 || resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("describe broker configs: %+v %v", resp, err)
	}
	got := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
	for _, cfg := range resp.Resources[0].Configs {
		got[cfg.Name] = cfg
	}
	for name, want := range map[string]struct {
		value string
		typ   kmsg.ConfigType
	}{
		"log.cleaner.backoff.ms":     {"300000", kmsg.ConfigTypeLong},
		"log.retention.ms":           {"604800000", kmsg.ConfigTypeLong},
		"num.partitions":             {"1", kmsg.ConfigTypeInt},
		"default.replication.factor": {"3", kmsg.ConfigTypeInt},
		"auto.create.topics.enable":  {"false", kmsg.ConfigTypeBoolean},
		"message.max.bytes":          {"1048588", kmsg.ConfigTypeInt},
		"log.cleanup.policy":         {"delete", kmsg.ConfigTypeList},
	} {
		cfg, ok := got[name]
		switch {
		case !ok:
			t.Errorf("broker config %s missing", name)
		case cfg.Value == nil || *cfg.Value != want.value || cfg.ConfigType != want.typ || !cfg.ReadOnly ||
			cfg.Documentation == nil || *cfg.Documentation == "":
			t.Errorf("broker config %s: %+v, want %s of type %v, read-only, documented", name, cfg, want.value, want.typ)
		}
	}
	if cfg := got["num.partitions"]; cfg.Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("num.partitions source %v, want DEFAULT_CONFIG", cfg.Source)
	}
	// Topic configs carry their type too.
	treq := kmsg.NewPtrDescribeConfigsRequest()
	tres := kmsg.NewDescribeConfigsRequestResource()
	tres.ResourceType, tres.ResourceName, tres.ConfigNames = kmsg.ConfigResourceTypeTopic, "dp", []string{"retention.ms", "segment.bytes", "cleanup.policy"}
	treq.Resources = append(treq.Resources, tres)
	tresp, err := treq.RequestWith(ctx, cl)
	if err != nil || len(tresp.Resources) != 1 || len(tresp.Resources[0].Configs) != 3 {
		t.Fatalf("describe topic configs: %+v %v", tresp, err)
	}
	wantType := map[string]kmsg.ConfigType{"retention.ms": kmsg.ConfigTypeLong, "segment.bytes": kmsg.ConfigTypeInt, "cleanup.policy": kmsg.ConfigTypeList}
	for _, cfg := range tresp.Resources[0].Configs {
		if cfg.ConfigType != wantType[cfg.Name] {
			t.Errorf("topic config %s has type %v, want %v", cfg.Name, cfg.ConfigType, wantType[cfg.Name])
		}
	}
}

// electResult runs one kadm election of one partition.
func electResult(t *testing.T, adm *kadm.Client, how kadm.ElectLeadersHow, topic string, partition int32) kadm.ElectLeadersResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rs, err := adm.ElectLeaders(ctx, how, kadm.TopicsSet{topic: {partition: {}}})
	if err != nil {
		t.Fatalf("elect leaders %s-%d: %v", topic, partition, err)
	}
	r, ok := rs[topic][partition]
	if !ok {
		t.Fatalf("elect leaders %s-%d: no result in %+v", topic, partition, rs)
	}
	return r
}

// waitLeader waits until the partition's leader satisfies ok.
func waitLeader(t *testing.T, c *cluster, topic string, partition int32, what string, ok func(leader int32) bool) movingPartition {
	t.Helper()
	var got movingPartition
	testutil.WaitFor(t, 30*time.Second, func() error {
		for _, p := range describePartitions(t, c, topic) {
			if p.Partition == partition {
				got = p
				if ok(p.Leader) {
					return nil
				}
				return fmt.Errorf("%s-%d led by %d, want %s", topic, partition, p.Leader, what)
			}
		}
		return fmt.Errorf("no partition %s-%d", topic, partition)
	})
	return got
}

// ElectLeaders: preferred elections (kadm, kafka-go), Kafka's errors, and
// an unclean election that revives a partition whose in-sync replica is
// gone, after which the old leader truncates to the new leader's log.
func TestKafkaElectLeaders(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 3, leaseTTL: "2s"})
	c.admin("topic", "create", "el", "--partitions", "2", "--replication-factor", "3")
	c.admin("topic", "create", "uc", "--partitions", "1", "--replication-factor", "2")
	waitTopicsReady(t, c, map[string]int{"el": 2, "uc": 1})
	cl := franzClient(t, c)
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// Every partition is led by its preferred replica: an election of
	// everything lists nothing, one of el-0 says it is not needed.
	all, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, nil)
	if err != nil {
		t.Fatal(err)
	}
	for topic, ps := range all {
		for p, r := range ps {
			t.Errorf("election of everything listed %s-%d: %+v", topic, p, r)
		}
	}
	if r := electResult(t, adm, kadm.ElectPreferredReplica, "el", 0); !errors.Is(r.Err, kerr.ElectionNotNeeded) {
		t.Errorf("preferred election of a partition its preferred replica leads: %v, want ELECTION_NOT_NEEDED", r.Err)
	}
	if r := electResult(t, adm, kadm.ElectPreferredReplica, "nope", 0); !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("election of an unknown topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", r.Err)
	}

	// The preferred replica dies: not available; it returns: kafka-go's
	// ElectLeaders moves leadership back.
	p0 := describePartitions(t, c, "el")[0]
	preferred := p0.Replicas[0]
	victim := nodeWithID(t, c, preferred)
	victim.kill()
	waitLeader(t, c, "el", 0, "another replica", func(l int32) bool { return l >= 0 && l != preferred })
	if r := electResult(t, adm, kadm.ElectPreferredReplica, "el", 0); !errors.Is(r.Err, kerr.PreferredLeaderNotAvailable) {
		t.Errorf("preferred election with the preferred replica dead: %v, want PREFERRED_LEADER_NOT_AVAILABLE", r.Err)
	}
	victim.restart(t)
	waitHealthy(t, victim.grpc, 30*time.Second)
	waitInISR(t, c, "el", 0, preferred)
	kc := &kafkago.Client{Addr: kafkago.TCP(c.kafka), Timeout: 30 * time.Second}
	kr, err := kc.ElectLeaders(ctx, &kafkago.ElectLeadersRequest{Topic: "el", Partitions: []int{0}, Timeout: 10 * time.Second})
	if err != nil || kr.Error != nil || len(kr.PartitionResults) != 1 || kr.PartitionResults[0].Error != nil {
		t.Fatalf("kafka-go elect leaders: %+v %v", kr, err)
	}
	waitLeader(t, c, "el", 0, "the preferred replica", func(l int32) bool { return l == preferred })

	// Unclean: uc-0's followers leave the ISR, its leader dies: no leader.
	uc := describePartitions(t, c, "uc")[0]
	leaderNode, follower := nodeWithID(t, c, uc.Leader), nodeWithID(t, c, otherReplica(uc))
	if r := electResult(t, adm, kadm.ElectLiveReplica, "uc", 0); !errors.Is(r.Err, kerr.ElectionNotNeeded) {
		t.Errorf("unclean election with a live leader: %v, want ELECTION_NOT_NEEDED", r.Err)
	}
	follower.kill()
	testutil.WaitFor(t, 30*time.Second, func() error {
		if p := describePartitions(t, c, "uc")[0]; len(p.ISR) != 1 {
			return fmt.Errorf("ISR of uc-0 is %v", p.ISR)
		}
		return nil
	})
	pc := franzClient(t, c, kgo.DefaultProduceTopic("uc"))
	produceN(t, pc, "uc", 20) // only the leader has these
	// A clean stop checkpoints its high watermark (20): the truncation
	// below must go under it.
	leaderNode.signal(syscall.SIGTERM)
	waitLeader(t, c, "uc", 0, "none", func(l int32) bool { return l < 0 })
	if r := electResult(t, adm, kadm.ElectLiveReplica, "uc", 0); !errors.Is(r.Err, kerr.EligibleLeadersNotAvailable) {
		t.Errorf("unclean election with every replica dead: %v, want ELIGIBLE_LEADERS_NOT_AVAILABLE", r.Err)
	}
	if out := c.admin("cluster", "elect-leaders", "--unclean", "--topic", "uc"); !strings.Contains(out, "is alive and online") {
		t.Errorf("strata cluster elect-leaders --unclean with every replica dead: %q", out)
	}
	if msg := c.adminFails("cluster", "elect-leaders", "--unclean"); !strings.Contains(msg, "needs --topic") {
		t.Errorf("strata cluster elect-leaders --unclean without a topic: %q", msg)
	}
	follower.restart(t)
	waitHealthy(t, follower.grpc, 30*time.Second)
	followerID := otherReplica(uc)
	testutil.WaitFor(t, 30*time.Second, func() error {
		r := electResult(t, adm, kadm.ElectLiveReplica, "uc", 0)
		if r.Err != nil {
			return fmt.Errorf("unclean election: %v %s", r.Err, r.ErrMessage)
		}
		return nil
	})
	waitLeader(t, c, "uc", 0, "the out-of-sync replica", func(l int32) bool { return l == followerID })
	produceN(t, pc, "uc", 5)
	// The old leader returns and truncates the records the new leader never
	// had, although they were below its high watermark.
	leaderNode.restart(t)
	waitHealthy(t, leaderNode.grpc, 30*time.Second)
	testutil.WaitFor(t, 30*time.Second, func() error {
		oldR, err := replicaOn(leaderNode, "uc", 0)
		if err != nil {
			return err
		}
		newR, err := replicaOn(follower, "uc", 0)
		if err != nil {
			return err
		}
		if oldR.GetLogEndOffset() != newR.GetLogEndOffset() || newR.GetLogEndOffset() != 5 {
			return fmt.Errorf("old leader ends at %d, new leader at %d, want both 5", oldR.GetLogEndOffset(), newR.GetLogEndOffset())
		}
		return nil
	})
}

// otherReplica is a replica of p that does not lead it.
func otherReplica(p movingPartition) int32 {
	for _, r := range p.Replicas {
		if r != p.Leader {
			return r
		}
	}
	return -1
}

// AlterPartitionReassignments starts and cancels moves (kadm), and
// ListPartitionReassignments shows them (sarama and a null topic list).
func TestKafkaPartitionReassignments(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 3, leaseTTL: "5s"})
	c.admin("topic", "create", "mv", "--partitions", "1", "--replication-factor", "1")
	waitTopicsReady(t, c, map[string]int{"mv": 1})
	cl := franzClient(t, c, kgo.DefaultProduceTopic("mv"))
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	produceN(t, cl, "mv", 50)
	from := describePartitions(t, c, "mv")[0].Replicas[0]
	var to int32 = -1
	var toNode *node
	for _, n := range c.storage {
		if id := nodeIDAt(t, c, n); id != from {
			to, toNode = id, n
			break
		}
	}
	alter := func(replicas []int32) error {
		t.Helper()
		var req kadm.AlterPartitionAssignmentsReq
		req.Assign("mv", 0, replicas)
		rs, err := adm.AlterPartitionAssignments(ctx, req)
		if err != nil {
			t.Fatalf("alter partition assignments: %v", err)
		}
		r, ok := rs["mv"][0]
		if !ok {
			t.Fatalf("alter partition assignments: no answer for mv-0: %+v", rs)
		}
		return r.Err
	}
	if err := alter(nil); !errors.Is(err, kerr.NoReassignmentInProgress) {
		t.Errorf("cancel without a move: %v, want NO_REASSIGNMENT_IN_PROGRESS", err)
	}
	if msg := c.adminFails("topic", "reassign", "mv", "--partition", "0", "--cancel"); !strings.Contains(msg, "not being reassigned") {
		t.Errorf("strata topic reassign --cancel without a move: %q", msg)
	}
	for _, bad := range [][]int32{{to, to}, {99}} {
		if err := alter(bad); !errors.Is(err, kerr.InvalidReplicaAssignment) {
			t.Errorf("reassign to %v: %v, want INVALID_REPLICA_ASSIGNMENT", bad, err)
		}
	}

	// The target node is stopped (still registered alive), so the move
	// cannot finish: it is listed, then cancelled back to the original.
	toNode.pause()
	if err := alter([]int32{to}); err != nil {
		t.Fatalf("reassign to %d: %v", to, err)
	}
	if msg := c.adminFails("topic", "reassign", "mv", "--partition", "0", "--replicas", strconv.Itoa(int(from))); !strings.Contains(msg, "already moving") {
		t.Errorf("strata topic reassign of a moving partition: %q, want it refused", msg)
	}
	scfg := sarama.NewConfig()
	scfg.Version = sarama.V3_6_0_0
	sadm, err := sarama.NewClusterAdmin([]string{c.kafka}, scfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sadm.Close()
	testutil.WaitFor(t, 10*time.Second, func() error {
		st, err := sadm.ListPartitionReassignments("mv", []int32{0})
		if err != nil {
			return err
		}
		s := st["mv"][0]
		if s == nil || !slices.Equal(s.Replicas, []int32{to, from}) || !slices.Equal(s.AddingReplicas, []int32{to}) || !slices.Equal(s.RemovingReplicas, []int32{from}) {
			return fmt.Errorf("sarama lists %+v, want replicas [%d %d] adding [%d] removing [%d]", s, to, from, to, from)
		}
		return nil
	})
	listAll := func() []kmsg.ListPartitionReassignmentsResponseTopic {
		req := kmsg.NewPtrListPartitionReassignmentsRequest() // null topics: every moving partition
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || resp.ErrorCode != 0 {
			t.Fatalf("list reassignments: %+v %v", resp, err)
		}
		return resp.Topics
	}
	if ts := listAll(); len(ts) != 1 || ts[0].Topic != "mv" || len(ts[0].Partitions) != 1 {
		t.Errorf("list of every reassignment: %+v", ts)
	}
	if err := alter(nil); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	testutil.WaitFor(t, 10*time.Second, func() error {
		if ts := listAll(); len(ts) != 0 {
			return fmt.Errorf("still listed after the cancel: %+v", ts)
		}
		return nil
	})
	if p := describePartitions(t, c, "mv")[0]; !slices.Equal(p.Replicas, []int32{from}) || p.Leader != from {
		t.Errorf("after the cancel: %+v, want back on %d", p, from)
	}
	toNode.resume()

	// The CLI cancels a stuck move the same way.
	waitHealthy(t, toNode.grpc, 30*time.Second)
	toNode.pause()
	testutil.WaitFor(t, 10*time.Second, func() error { return alter([]int32{to}) })
	if out := c.admin("topic", "reassign", "mv", "--partition", "0", "--cancel"); !strings.Contains(out, fmt.Sprintf("back on %d", from)) {
		t.Fatalf("strata topic reassign --cancel: %q", out)
	}
	toNode.resume()

	// A Kafka reassignment of a moving partition replaces the move: back
	// to the original replicas, then on to the new list, which here (a
	// live node) finishes.
	var third int32 = -1
	for _, n := range c.storage {
		if id := nodeIDAt(t, c, n); id != from && id != to {
			third = id
		}
	}
	waitHealthy(t, toNode.grpc, 30*time.Second)
	toNode.pause()
	testutil.WaitFor(t, 10*time.Second, func() error { return alter([]int32{to}) })
	if err := alter([]int32{third}); err != nil {
		t.Fatalf("replacing the move with one to %d: %v", third, err)
	}
	testutil.WaitFor(t, 30*time.Second, func() error {
		if p := describePartitions(t, c, "mv")[0]; !slices.Equal(p.Replicas, []int32{third}) || p.Leader != third {
			return fmt.Errorf("mv-0 is %+v, want moved to %d", p, third)
		}
		return nil
	})
	toNode.resume()

	// A move that runs to completion.
	waitHealthy(t, toNode.grpc, 30*time.Second)
	testutil.WaitFor(t, 30*time.Second, func() error { return alter([]int32{to}) })
	testutil.WaitFor(t, 30*time.Second, func() error {
		if p := describePartitions(t, c, "mv")[0]; !slices.Equal(p.Replicas, []int32{to}) || p.Leader != to {
			return fmt.Errorf("mv-0 is %+v, want moved to %d", p, to)
		}
		return nil
	})
	if ts := listAll(); len(ts) != 0 {
		t.Errorf("a finished move is still listed: %+v", ts)
	}
	consumer := franzClient(t, c, kgo.ConsumeTopics("mv"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if got := consumeN(t, consumer, 50, 30*time.Second); len(got) != 50 {
		t.Errorf("consumed %d records after the move, want 50", len(got))
	}
}

// A replica its node took offline after a storage fault (a full disk) is
// its own log dir with KAFKA_STORAGE_ERROR; the node's other replicas stay
// in its healthy dir.
func TestKafkaDescribeLogDirsOfflineReplica(t *testing.T) {
	c := tmpfsCluster(t, 3)
	c.admin("topic", "create", "full", "--partitions", "1", "--replication-factor", "3")
	c.admin("topic", "create", "idle", "--partitions", "1", "--replication-factor", "3")
	waitTopicsReady(t, c, map[string]int{"full": 1, "idle": 1})
	waitOnline(t, c, "full", 3)
	p, err := describeFault(t, c, "full")
	if err != nil {
		t.Fatal(err)
	}
	rn := nodesByID(t, c)
	leader := rn.byID[p.Leader]
	fillDisk(t, leader.dataDir)
	cl := franzClient(t, c, kgo.DefaultProduceTopic("full"), kgo.RecordRetries(20))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The leader cannot store the records: it takes its replica offline and
	// the produce goes on with a new leader.
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(strings.Repeat("x", 1000))}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	waitOffline(t, c, "full", p.Leader, 15*time.Second)
	adm := kadm.NewClient(cl)
	testutil.WaitFor(t, 10*time.Second, func() error {
		all, err := adm.DescribeAllLogDirs(ctx, nil)
		if err != nil {
			return err
		}
		prefix := fmt.Sprintf("storage-%d:", p.Leader)
		var offline, healthy *kadm.DescribedLogDir
		for _, dirs := range all {
			for name, d := range dirs {
				if !strings.HasPrefix(name, prefix) {
					continue
				}
				if d.Err != nil {
					offline = &d
				} else {
					healthy = &d
				}
			}
		}
		switch {
		case offline == nil || !errors.Is(offline.Err, kerr.KafkaStorageError) || !strings.HasSuffix(offline.Dir, "full-0"):
			return fmt.Errorf("no KAFKA_STORAGE_ERROR dir for full-0 on node %d: %+v", p.Leader, all)
		case healthy == nil || len(healthy.Topics["idle"]) != 1 || len(healthy.Topics["full"]) != 0:
			return fmt.Errorf("node %d's healthy dir should hold idle-0 only: %+v", p.Leader, healthy)
		}
		return nil
	})
	freeDisk(t, leader.dataDir)
}

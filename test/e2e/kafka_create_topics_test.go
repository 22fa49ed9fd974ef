package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	"github.com/strata-io/strata/internal/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// addGateway starts one more gateway of the cluster, with extra flags, and
// returns its Kafka and gRPC addresses once it is healthy.
func addGateway(t *testing.T, c *cluster, name string, extra ...string) (kafka, grpc string) {
	t.Helper()
	grpc, kafka = testutil.FreeAddr(t), testutil.FreeAddr(t)
	start(t, name, append([]string{"gateway", "--grpc-addr", grpc, "--http-addr", testutil.FreeAddr(t), "--kafka-addr", kafka,
		"--advertise-kafka", kafka, "--controllers", c.controllerAddrs()}, extra...)...)
	waitHealthy(t, grpc, 30*time.Second)
	return kafka, grpc
}

// threeGateways is a cluster of three storage nodes and three gateways,
// each of which lists all three as brokers. It returns the gateways' Kafka
// and gRPC addresses.
func threeGateways(t *testing.T) (*cluster, []string, []string) {
	t.Helper()
	c := newCluster(t, clusterSpec{controllers: 1, storage: 3})
	k2, g2 := addGateway(t, c, "gateway-2")
	k3, g3 := addGateway(t, c, "gateway-3")
	gws, grpcs := []string{c.kafka, k2, k3}, []string{c.gateway.grpc, g2, g3}
	for _, gw := range gws {
		cl, err := kgo.NewClient(kgo.SeedBrokers(gw))
		if err != nil {
			t.Fatal(err)
		}
		testutil.WaitFor(t, 30*time.Second, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
			if err != nil {
				return err
			}
			if len(resp.Brokers) != 3 {
				return fmt.Errorf("gateway %s lists %d brokers", gw, len(resp.Brokers))
			}
			return nil
		})
		cl.Close()
	}
	return c, gws, grpcs
}

// Topics created through one gateway take produce and ListOffsets through
// the others at once: CreateTopics answers only when every leader is
// ready, and a gateway whose metadata lags catches up with the controller
// instead of answering that the topic is missing. franz-go (kadm to
// create, a producer with its defaults) and sarama (ClusterAdmin, a sync
// producer that never retries) each create 20 topics and produce to all of
// them at once, with no produce error.
func TestKafkaCreateTopicsThenProduceThroughOtherGateways(t *testing.T) {
	c, gws, grpcs := threeGateways(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const topics, parts = 20, 3

	t.Run("franz-go", func(t *testing.T) {
		admin := kadm.NewClient(franzSeeded(t, gws[0]))
		var names []string
		for i := range topics {
			names = append(names, fmt.Sprintf("franz-%d", i))
		}
		resp, err := admin.CreateTopics(ctx, parts, 3, nil, names...)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, topics*(parts+1))
		for i, name := range names {
			gw := gws[1+i%2]
			wg.Add(1)
			go func() {
				defer wg.Done()
				cl := franzSeeded(t, gw, kgo.DefaultProduceTopic(name), kgo.RecordPartitioner(kgo.ManualPartitioner()))
				var recs []*kgo.Record
				for p := range int32(parts) {
					recs = append(recs, &kgo.Record{Partition: p, Value: []byte(name)})
				}
				for _, r := range cl.ProduceSync(ctx, recs...) {
					if r.Err != nil {
						errs <- fmt.Errorf("produce to %s-%d through %s: %w", name, r.Record.Partition, gw, r.Err)
					}
				}
				offs, err := kadm.NewClient(cl).ListEndOffsets(ctx, name)
				if err == nil {
					err = offs.Error()
				}
				if err != nil {
					errs <- fmt.Errorf("list offsets of %s through %s: %w", name, gw, err)
				}
				offs.Each(func(o kadm.ListedOffset) {
					if o.Offset != 1 {
						errs <- fmt.Errorf("%s-%d ends at %d, want 1", name, o.Partition, o.Offset)
					}
				})
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})

	t.Run("sarama", func(t *testing.T) {
		cfg := sarama.NewConfig()
		cfg.Version = sarama.V3_6_0_0
		cfg.Admin.Timeout = 30 * time.Second
		admin, err := sarama.NewClusterAdmin([]string{gws[1]}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		var names []string
		for i := range topics {
			name := fmt.Sprintf("sarama-%d", i)
			names = append(names, name)
			if err := admin.CreateTopic(name, &sarama.TopicDetail{NumPartitions: parts, ReplicationFactor: 3}, false); err != nil {
				t.Fatalf("create %s: %v", name, err)
			}
		}
		saramaProduceAll(t, []string{gws[0], gws[2]}, names, parts) // not through gateway 2, which created them
	})

	// The gRPC admin API (the CLI) answers once the leaders are ready too,
	// and the gRPC data API of another gateway finds the new topic at once.
	t.Run("grpc admin", func(t *testing.T) {
		var names []string
		for i := range 5 {
			name := fmt.Sprintf("grpc-%d", i)
			names = append(names, name)
			c.admin("topic", "create", name, "--partitions", fmt.Sprint(parts), "--replication-factor", "3")
		}
		saramaProduceAll(t, gws[1:], names, parts)
		conn, err := dialRole(grpcs[2])
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		sc := streamv1.NewStreamServiceClient(conn)
		c.admin("topic", "create", "grpc-data", "--partitions", "1", "--replication-factor", "3")
		resp, err := sc.Produce(ctx, &streamv1.ProduceRequest{Topic: "grpc-data", Records: []*streamv1.ProduceRecord{{Value: []byte("v")}}})
		if err != nil {
			t.Fatalf("gRPC produce through another gateway right after CreateTopic: %v", err)
		}
		for _, r := range resp.GetResults() {
			if r.GetError() != nil {
				t.Fatalf("gRPC produce result: %v", r.GetError())
			}
		}
	})

	// franz-go reads every record back through all three gateways, each
	// with its own incremental fetch session.
	t.Run("consume", func(t *testing.T) {
		var all []string
		for i := range topics {
			all = append(all, fmt.Sprintf("franz-%d", i), fmt.Sprintf("sarama-%d", i))
		}
		for i := range 5 {
			all = append(all, fmt.Sprintf("grpc-%d", i))
		}
		cons := franzSeeded(t, gws[2], kgo.ConsumeTopics(all...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchMaxWait(200*time.Millisecond))
		want := len(all) * parts
		seen := map[string]int{}
		for n := 0; n < want; {
			fs := cons.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("consumed %d of %d records", n, want)
			}
			fs.EachError(func(topic string, p int32, err error) { t.Errorf("fetch %s-%d: %v", topic, p, err) })
			fs.EachRecord(func(r *kgo.Record) {
				seen[r.Topic]++
				n++
			})
		}
		for _, name := range all {
			if seen[name] != parts {
				t.Errorf("%s: %d records, want %d", name, seen[name], parts)
			}
		}
	})

	// The admin APIs answer through each of the three gateways as through
	// one (kadm sends each to a broker of its choosing, or to all).
	t.Run("admin through every gateway", func(t *testing.T) {
		for i, gw := range gws {
			adm := kadm.NewClient(franzSeeded(t, gw))
			topic := fmt.Sprintf("franz-%d", i)
			var to kadm.Offsets
			to.AddOffset(topic, 0, 1, -1)
			deleted, err := adm.DeleteRecords(ctx, to)
			if err != nil {
				t.Fatalf("%s: DeleteRecords: %v", gw, err)
			}
			if d := deleted[topic][0]; d.Err != nil || d.LowWatermark != 1 {
				t.Errorf("%s: DeleteRecords %s-0: low watermark %d, %v", gw, topic, d.LowWatermark, d.Err)
			}
			dirs, err := adm.DescribeAllLogDirs(ctx, nil)
			if err != nil || len(dirs) != 3 {
				t.Fatalf("%s: DescribeLogDirs: %d brokers, %v", gw, len(dirs), err)
			}
			dirs.Each(func(d kadm.DescribedLogDir) {
				if d.Err != nil {
					t.Errorf("%s: log dir %s of %d: %v", gw, d.Dir, d.Broker, d.Err)
				}
			})
			if _, err := adm.ListPartitionReassignments(ctx, nil); err != nil {
				t.Errorf("%s: ListPartitionReassignments: %v", gw, err)
			}
			producers, err := adm.DescribeProducers(ctx, kadm.TopicsSet{topic: {0: {}}})
			if err != nil {
				t.Fatalf("%s: DescribeProducers: %v", gw, err)
			}
			producers.EachPartition(func(d kadm.DescribedProducersPartition) {
				if d.Err != nil {
					t.Errorf("%s: DescribeProducers %s-%d: %v", gw, d.Topic, d.Partition, d.Err)
				}
			})
			elected, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{topic: {0: {}}})
			if err != nil {
				t.Fatalf("%s: ElectLeaders: %v", gw, err)
			}
			if r := elected[topic][0]; r.Err != nil && !errors.Is(r.Err, kerr.ElectionNotNeeded) {
				t.Errorf("%s: ElectLeaders %s-0: %v", gw, topic, r.Err)
			}
			configs, err := adm.DescribeBrokerConfigs(ctx)
			if err != nil || len(configs) == 0 || configs[0].Err != nil {
				t.Errorf("%s: DescribeConfigs(BROKER): %v, %v", gw, configs, err)
			}
			if _, err := adm.DescribeClientQuotas(ctx, false, nil); err != nil {
				t.Errorf("%s: DescribeClientQuotas: %v", gw, err)
			}
		}
	})
}

// saramaProduceAll sends one record to each partition of each topic through
// the gateways in turn, with no retries at all, and reports every failure.
func saramaProduceAll(t *testing.T, gws []string, names []string, parts int32) {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Retry.Max, cfg.Metadata.Retry.Max = 0, 0
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	var wg sync.WaitGroup
	errs := make(chan error, len(names)*int(parts)+len(names))
	for i, name := range names {
		gw := gws[i%len(gws)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			sp, err := sarama.NewSyncProducer([]string{gw}, cfg)
			if err != nil {
				errs <- err
				return
			}
			defer sp.Close()
			for p := range parts {
				if _, _, err := sp.SendMessage(&sarama.ProducerMessage{Topic: name, Partition: p, Value: sarama.StringEncoder(name)}); err != nil {
					errs <- fmt.Errorf("produce to %s-%d through %s: %w", name, p, gw, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func franzSeeded(t *testing.T, seed string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seed)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// CreateTopics and CreatePartitions validate as Kafka does: a topic named
// twice, manual assignments (placed exactly as asked, or refused with
// INVALID_REPLICA_ASSIGNMENT), and num_partitions with an assignment.
func TestKafkaCreateTopicsAssignments(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 3})
	var cl clusterInfo
	c.adminJSON(&cl, "cluster", "describe")
	var ids []int32
	for _, n := range cl.StorageNodes {
		ids = append(ids, n.ID)
	}
	slices.Sort(ids)
	if len(ids) != 3 {
		t.Fatalf("storage nodes %v", ids)
	}
	a, b, d := ids[0], ids[1], ids[2]
	kc := franzClient(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	type topic struct {
		name         string
		parts        int32
		rf           int16
		assign       [][]int32 // partition i: assign[i]; nil entries skipped
		assignParts  []int32   // partition numbers, when not 0..n-1
		wantCode     int16
		wantReplicas [][]int32
	}
	create := func(ts ...topic) *kmsg.CreateTopicsResponse {
		t.Helper()
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = 30000
		for _, tp := range ts {
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = tp.name, tp.parts, tp.rf
			for i, reps := range tp.assign {
				ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
				ra.Partition, ra.Replicas = int32(i), reps
				if tp.assignParts != nil {
					ra.Partition = tp.assignParts[i]
				}
				rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
			}
			req.Topics = append(req.Topics, rt)
		}
		resp, err := req.RequestWith(ctx, kc)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Topics) != len(ts) {
			t.Fatalf("%d topics answered, want %d", len(resp.Topics), len(ts))
		}
		for i, rt := range resp.Topics {
			if rt.Topic != ts[i].name || rt.ErrorCode != ts[i].wantCode {
				t.Errorf("%s: error %v (%v), want %v", rt.Topic, kerr.ErrorForCode(rt.ErrorCode), rt.ErrorMessage, kerr.ErrorForCode(ts[i].wantCode))
			}
		}
		return resp
	}
	replicasOf := func(name string) [][]int32 {
		t.Helper()
		var ti topicInfo
		c.adminJSON(&ti, "topic", "describe", name)
		var out [][]int32
		for _, p := range ti.Partitions {
			out = append(out, p.Replicas)
			if p.Leader != p.Replicas[0] {
				t.Errorf("%s-%d is led by %d, want its first replica %d", name, p.Partition, p.Leader, p.Replicas[0])
			}
		}
		return out
	}

	invalidReq, invalidAssign := kerr.InvalidRequest.Code, kerr.InvalidReplicaAssignment.Code
	create(topic{name: "twice", parts: 1, rf: 1, wantCode: invalidReq}, topic{name: "once", parts: 1, rf: 1},
		topic{name: "twice", parts: 2, rf: 1, wantCode: invalidReq})
	if _, _, code := cli(t, "topic", "describe", "twice", "--server", c.gateway.grpc); code == 0 {
		t.Fatal("a topic named twice in one request was created")
	}

	manual := [][]int32{{d, a}, {a, b}}
	create(topic{name: "manual", parts: -1, rf: -1, assign: manual})
	if got := replicasOf("manual"); fmt.Sprint(got) != fmt.Sprint(manual) {
		t.Fatalf("manual placement %v, want %v", got, manual)
	}
	create(
		topic{name: "dup-node", parts: -1, rf: -1, assign: [][]int32{{a, a}}, wantCode: invalidAssign},
		topic{name: "uneven", parts: -1, rf: -1, assign: [][]int32{{a, b}, {d}}, wantCode: invalidAssign},
		topic{name: "no-node", parts: -1, rf: -1, assign: [][]int32{{a, 99}}, wantCode: invalidAssign},
		topic{name: "gap", parts: -1, rf: -1, assign: [][]int32{{a}, {b}}, assignParts: []int32{0, 2}, wantCode: invalidAssign},
		topic{name: "both", parts: 2, rf: -1, assign: [][]int32{{a}, {b}}, wantCode: invalidReq},
		topic{name: "empty", parts: -1, rf: -1, assign: [][]int32{{}}, wantCode: invalidAssign},
	)

	grow := func(name string, count int32, assign [][]int32, want int16) {
		t.Helper()
		req := kmsg.NewPtrCreatePartitionsRequest()
		req.TimeoutMillis = 30000
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = name, count
		for _, reps := range assign {
			rt.Assignment = append(rt.Assignment, kmsg.CreatePartitionsRequestTopicAssignment{Replicas: reps})
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, kc)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Topics[0].ErrorCode; got != want {
			t.Fatalf("grow %s to %d with %v: %v (%v), want %v", name, count, assign, kerr.ErrorForCode(got), resp.Topics[0].ErrorMessage, kerr.ErrorForCode(want))
		}
	}
	grow("manual", 3, [][]int32{{b, d}}, 0)
	if got, want := replicasOf("manual"), append(manual, []int32{b, d}); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after growing: %v, want %v", got, want)
	}
	grow("manual", 4, [][]int32{{a}}, invalidAssign)     // not the topic's replication factor
	grow("manual", 5, [][]int32{{a, b}}, invalidAssign)  // one assignment for two new partitions
	grow("manual", 4, [][]int32{{a, 42}}, invalidAssign) // no such node
	grow("manual", 4, [][]int32{{d, d}}, invalidAssign)  // a node twice
	if got := replicasOf("manual"); len(got) != 3 {
		t.Fatalf("refused growths changed the topic: %v", got)
	}

	// The CLI's --replica-assignment, kafka-topics.sh style.
	c.admin("topic", "create", "cli-manual", "--replica-assignment", fmt.Sprintf("%d:%d,%d:%d", b, d, d, a))
	c.admin("topic", "add-partitions", "cli-manual", "--total", "3", "--replica-assignment", fmt.Sprintf("%d:%d", a, b))
	if got, want := replicasOf("cli-manual"), [][]int32{{b, d}, {d, a}, {a, b}}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("CLI placement %v, want %v", got, want)
	}
	if msg := c.adminFails("topic", "create", "cli-bad", "--replica-assignment", fmt.Sprintf("%d:%d", a, a)); !strings.Contains(msg, "twice") {
		t.Errorf("a node twice: %q", msg)
	}
	if msg := c.adminFails("topic", "create", "cli-both", "--partitions", "2", "--replica-assignment", "1"); !strings.Contains(msg, "leave out") {
		t.Errorf("--partitions with --replica-assignment: %q", msg)
	}
}

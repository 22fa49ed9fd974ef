//go:build compose

package compose

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	strata "github.com/strata-io/strata/clients/go"
	"github.com/strata-io/strata/internal/testutil"
	"github.com/strata-io/strata/internal/testutil/history"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Topics the workloads write: one over Kafka, one over gRPC.
const (
	kafkaTopic = "faults-kafka"
	grpcTopic  = "faults-grpc"
	partitions = 3
	// recoverWithin is RELIABILITY.md's bound on getting service back
	// after a fault heals.
	recoverWithin = 30 * time.Second
)

// faultEnv is the cluster, its network and the two workloads' histories.
type faultEnv struct {
	*env
	network string
	kafka   *history.History
	grpc    *history.History
	results []string // one table row per scenario
}

// scenario injects a fault, holds it until it has had its effect, heals
// it and returns when it healed.
type scenario struct {
	name  string
	smoke bool // in the subset .ci/run runs
	run   func(t *testing.T, f *faultEnv) (healed time.Time)
}

// TestComposeFaults runs an idempotent acks=all producer and a consumer
// group over Kafka (franz-go, both gateways as seeds) and over gRPC
// (clients/go, gateway 2) against the compose cluster while faults hit it
// one at a time — docker kill, restart, pause and network disconnect of
// the leader or a follower of a partition, the active controller, a
// minority of controllers and a gateway, adding two storage nodes and
// rebalancing, draining one — and after each checks the history (no
// acknowledged loss, no duplicates, order per partition, writes back on
// every partition within 30 s of healing), printing one line. At the end
// the replicas of every partition must hold identical logs.
// STRATA_FAULTS=smoke runs only the smoke subset.
func TestComposeFaults(t *testing.T) {
	smoke := os.Getenv("STRATA_FAULTS") == "smoke"
	e := startCluster(t)
	// The CLI talks to gateway 2: the gateway faults hit gateway 1.
	e.server = "127.0.0.1:" + e.grpc[1]
	f := &faultEnv{env: e, network: strings.ReplaceAll(strings.ToLower(e.project), ".", "") + "_strata",
		kafka: history.New(), grpc: history.New()}
	for _, topic := range []string{kafkaTopic, grpcTopic} {
		if out, errOut, code := e.cli("topic", "create", topic, "--partitions", fmt.Sprint(partitions), "--replication-factor", "3"); code != 0 {
			t.Fatalf("topic create %s: exit %d: %s%s", topic, code, out, errOut)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			wg.Wait()
		}
	}
	t.Cleanup(stop)
	f.startKafka(ctx, t, &wg)
	f.startGRPC(ctx, t, &wg)

	start := time.Now()
	ran := 0
	for _, sc := range scenarios() {
		if smoke && !sc.smoke {
			continue
		}
		ran++
		t.Run(sc.name, func(t *testing.T) { f.runScenario(t, sc) })
	}
	stop()
	f.replicasIdentical(t)
	t.Logf("%d scenarios in %s", ran, time.Since(start).Round(time.Second))
	fmt.Println("| scenario | verdict | Kafka acked / read / lost / dup | gRPC acked / read / lost / dup | longest no ack | recovery |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, r := range f.results {
		fmt.Println(r)
	}
}

func scenarios() []scenario {
	return []scenario{
		{"kill partition leader", true, func(t *testing.T, f *faultEnv) time.Time {
			c := f.storageContainer(t, f.leaderOf(t, kafkaTopic, 0))
			f.must("docker", "kill", c)
			f.waitLeaderMoves(t, kafkaTopic, 0, c)
			f.must("docker", "start", c)
			return time.Now()
		}},
		{"restart follower", false, func(t *testing.T, f *faultEnv) time.Time {
			f.must("docker", "restart", "-t", "5", f.storageContainer(t, f.followerOf(t, kafkaTopic, 0)))
			return time.Now()
		}},
		{"pause follower past its lease", false, func(t *testing.T, f *faultEnv) time.Time {
			id := f.followerOf(t, kafkaTopic, 0)
			c := f.storageContainer(t, id)
			f.must("docker", "pause", c)
			f.waitNodeState(t, id, "dead")
			f.must("docker", "unpause", c)
			return time.Now()
		}},
		{"partition leader off the network", true, func(t *testing.T, f *faultEnv) time.Time {
			c := f.storageContainer(t, f.leaderOf(t, kafkaTopic, 0))
			heal := f.disconnect(t, c, "storage")
			f.waitLeaderMoves(t, kafkaTopic, 0, c)
			heal()
			return time.Now()
		}},
		{"kill active controller", true, func(t *testing.T, f *faultEnv) time.Time {
			name := f.activeController(t)
			c := strings.TrimSpace(f.dc("ps", "-q", name))
			f.must("docker", "kill", c)
			f.waitActiveNot(t, name)
			f.must("docker", "start", c)
			return time.Now()
		}},
		{"active controller off the network", false, func(t *testing.T, f *faultEnv) time.Time {
			name := f.activeController(t)
			heal := f.disconnect(t, strings.TrimSpace(f.dc("ps", "-q", name)), name)
			f.waitActiveNot(t, name)
			heal()
			return time.Now()
		}},
		{"pause a standby controller (minority)", false, func(t *testing.T, f *faultEnv) time.Time {
			active := f.activeController(t)
			standby := "c1"
			if active == "c1" {
				standby = "c2"
			}
			c := strings.TrimSpace(f.dc("ps", "-q", standby))
			f.must("docker", "pause", c)
			f.holdWrites(t, 5*time.Second)
			f.must("docker", "unpause", c)
			return time.Now()
		}},
		{"kill gateway 1", true, func(t *testing.T, f *faultEnv) time.Time {
			c := strings.TrimSpace(f.dc("ps", "-q", "gateway1"))
			f.must("docker", "kill", c)
			f.holdWrites(t, 5*time.Second)
			f.must("docker", "start", c)
			return time.Now()
		}},
		{"restart gateway 2 (gRPC's)", false, func(t *testing.T, f *faultEnv) time.Time {
			f.must("docker", "restart", "-t", "5", strings.TrimSpace(f.dc("ps", "-q", "gateway2")))
			return time.Now()
		}},
		{"scale storage to 5 and rebalance", false, func(t *testing.T, f *faultEnv) time.Time {
			f.dc("up", "-d", "--no-recreate", "--scale", "storage=5")
			f.waitAlive(t, 5)
			if out, errOut, code := f.cli("cluster", "rebalance"); code != 0 {
				t.Fatalf("rebalance: exit %d: %s%s", code, out, errOut)
			}
			f.waitSettled(t, func(cl clusterInfo) error {
				for _, n := range cl.StorageNodes {
					if n.Replicas == 0 {
						return fmt.Errorf("node %d holds no replica after the rebalance", n.ID)
					}
				}
				return nil
			})
			return time.Now()
		}},
		{"drain a node and scale to 4", false, func(t *testing.T, f *faultEnv) time.Time {
			cl := f.describe(t)
			victim := cl.StorageNodes[len(cl.StorageNodes)-1].ID
			if out, errOut, code := f.cli("cluster", "drain", fmt.Sprint(victim)); code != 0 {
				t.Fatalf("drain: exit %d: %s%s", code, out, errOut)
			}
			f.waitSettled(t, func(cl clusterInfo) error {
				for _, n := range cl.StorageNodes {
					if n.ID == victim && n.Replicas != 0 {
						return fmt.Errorf("node %d still holds %d replicas", victim, n.Replicas)
					}
				}
				return nil
			})
			// Remove that very container (and its volume), then tell
			// compose the new count.
			f.must("docker", "rm", "-f", "-v", f.storageContainer(t, victim))
			f.dc("up", "-d", "--no-recreate", "--scale", "storage=4")
			return time.Now()
		}},
	}
}

// runScenario runs one scenario between two checks of the history.
func (f *faultEnv) runScenario(t *testing.T, sc scenario) {
	from := time.Now()
	f.waitAcksAfter(t, from, 60*time.Second) // healthy before the fault
	healed := sc.run(t, f)
	recovery, err := f.acksAfter(healed, 60*time.Second)
	verdict := "pass"
	if err != nil {
		t.Errorf("writes did not resume: %v", err)
		verdict = "FAIL"
	} else if recovery > recoverWithin {
		t.Errorf("writes resumed %s after healing, more than %s", recovery, recoverWithin)
		verdict = "FAIL"
	}
	// Everything acknowledged so far is read back by the consumer groups.
	to := time.Now()
	if err := testutil.Poll(60*time.Second, func() error {
		if k, g := f.kafka.Missing(to), f.grpc.Missing(to); k+g > 0 {
			return fmt.Errorf("not read yet: %d over Kafka, %d over gRPC", k, g)
		}
		return nil
	}); err != nil {
		t.Errorf("%v", err)
	}
	rk, rg := f.kafka.Check(from, to), f.grpc.Check(from, to)
	for _, r := range []history.Result{rk, rg} {
		for _, p := range r.Problems {
			t.Error(p)
		}
		if !r.OK() {
			verdict = "FAIL"
		}
	}
	if t.Failed() {
		verdict = "FAIL"
	}
	noAck := max(rk.LongestNoAck, rg.LongestNoAck)
	fmt.Printf("%-38s %s  kafka acked %d read %d lost %d dup %d  grpc acked %d read %d lost %d dup %d  longest no ack %s  recovered in %s\n",
		sc.name, verdict, rk.Acked, rk.Read, rk.Lost, rk.Duplicated, rg.Acked, rg.Read, rg.Lost, rg.Duplicated,
		noAck.Round(100*time.Millisecond), recovery.Round(100*time.Millisecond))
	f.results = append(f.results, fmt.Sprintf("| %s | %s | %d / %d / %d / %d | %d / %d / %d / %d | %s | %s |",
		sc.name, verdict, rk.Acked, rk.Read, rk.Lost, rk.Duplicated, rg.Acked, rg.Read, rg.Lost, rg.Duplicated,
		noAck.Round(100*time.Millisecond), recovery.Round(100*time.Millisecond)))
}

// startKafka runs the Kafka workload: an idempotent acks=all franz-go
// producer (its default) with both gateways as seeds, and a consumer group.
func (f *faultEnv) startKafka(ctx context.Context, t *testing.T, wg *sync.WaitGroup) {
	seeds := kgo.SeedBrokers("localhost:"+f.env.kafka[0], "localhost:"+f.env.kafka[1])
	prod, err := kgo.NewClient(seeds, kgo.DefaultProduceTopic(kafkaTopic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(2000))
	if err != nil {
		t.Fatal(err)
	}
	// The consumer's errors go to the test's output (a stuck group shows
	// why).
	cons, err := kgo.NewClient(seeds, kgo.ConsumerGroup("faults-kafka-group"), kgo.ConsumeTopics(kafkaTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.WithLogger(consumerLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer prod.Close()
		pace(ctx, func(seq int64) {
			v := fmt.Sprintf("k-%d", seq)
			prod.Produce(ctx, &kgo.Record{Key: []byte(v), Value: []byte(v)}, func(r *kgo.Record, err error) {
				if err == nil {
					f.kafka.Acked(v, r.Partition, r.Offset, seq)
				}
			})
		})
		_ = prod.Flush(context.Background())
	}()
	go func() {
		defer wg.Done()
		defer cons.Close()
		for ctx.Err() == nil {
			cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) { f.kafka.Read(string(r.Value), r.Offset) })
		}
	}()
}

// startGRPC runs the gRPC workload through gateway 2: a clients/go
// producer (idempotent, acks=all by default) and a consumer group.
func (f *faultEnv) startGRPC(ctx context.Context, t *testing.T, wg *sync.WaitGroup) {
	tlsCfg, err := strata.TLSConfigFromFiles(filepath.Join(f.root, "deploy/compose/certs/ca.crt"), "", "")
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	client, err := strata.NewClient(cctx, "127.0.0.1:"+f.env.grpc[1], strata.WithTLS(tlsCfg))
	if err != nil {
		t.Fatal(err)
	}
	prod, err := client.NewProducer(strata.Linger(5 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	cons, err := client.NewConsumer("faults-grpc-group", []string{grpcTopic}, strata.ConsumeStartOffset(strata.AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		pace(ctx, func(seq int64) {
			v := fmt.Sprintf("g-%d", seq)
			prod.Produce(ctx, &strata.Record{Topic: grpcTopic, Key: []byte(v), Value: []byte(v)}, func(r *strata.Record, err error) {
				if err == nil {
					f.grpc.Acked(v, r.Partition, r.Offset, seq)
				}
			})
		})
		fctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = prod.Flush(fctx)
		_ = prod.Close()
	}()
	go func() {
		defer wg.Done()
		defer client.Close()
		defer func() {
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = cons.Close(cctx)
		}()
		for ctx.Err() == nil {
			fs, err := cons.Poll(ctx)
			if err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
				time.Sleep(100 * time.Millisecond) // back off a failing poll; not synchronisation
				continue
			}
			for _, r := range fs.Records() {
				f.grpc.Read(string(r.Value), r.Offset)
			}
		}
	}()
}

// pace calls send about 400 times a second until ctx is done (the
// producers block when their buffers are full).
func pace(ctx context.Context, send func(seq int64)) {
	tick := time.NewTicker(2500 * time.Microsecond)
	defer tick.Stop()
	for seq := int64(1); ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			send(seq)
		}
	}
}

// acksAfter waits until every partition of both topics has an ack after
// since, and returns how long after since the last of them came.
func (f *faultEnv) acksAfter(since time.Time, within time.Duration) (time.Duration, error) {
	err := testutil.Poll(within, func() error {
		for _, h := range []*history.History{f.kafka, f.grpc} {
			acks := h.LastAcks()
			for p := int32(0); p < partitions; p++ {
				at, ok := acks[p]
				if !ok || !at.After(since) {
					return fmt.Errorf("partition %d: no ack since %s", p, since.Format(time.TimeOnly))
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	// The condition became true within one poll (250 ms) of the slowest
	// partition's first ack after since.
	return time.Since(since), nil
}

func (f *faultEnv) waitAcksAfter(t *testing.T, since time.Time, within time.Duration) {
	t.Helper()
	if _, err := f.acksAfter(since, within); err != nil {
		t.Fatalf("workloads not writing: %v", err)
	}
}

// holdWrites keeps a fault on for d while the workloads run (a fault with
// no state to wait for).
func (f *faultEnv) holdWrites(t *testing.T, d time.Duration) {
	end := time.Now().Add(d)
	_ = testutil.Poll(d+time.Second, func() error {
		if time.Now().Before(end) {
			return errors.New("holding")
		}
		return nil
	})
}

func (f *faultEnv) describe(t *testing.T) clusterInfo {
	t.Helper()
	var cl clusterInfo
	if err := testutil.Poll(30*time.Second, func() error { return f.cliJSON(&cl, "cluster", "describe") }); err != nil {
		t.Fatal(err)
	}
	return cl
}

func (f *faultEnv) partition(t *testing.T, topic string, p int) (leader int32, replicas, isr []int32) {
	t.Helper()
	var ti topicInfo
	if err := testutil.Poll(30*time.Second, func() error {
		if err := f.cliJSON(&ti, "topic", "describe", topic); err != nil {
			return err
		}
		if len(ti.Partitions) <= p || ti.Partitions[p].Leader <= 0 {
			return fmt.Errorf("%s/%d has no leader", topic, p)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	pi := ti.Partitions[p]
	return pi.Leader, pi.Replicas, pi.ISR
}

func (f *faultEnv) leaderOf(t *testing.T, topic string, p int) int32 {
	leader, _, _ := f.partition(t, topic, p)
	return leader
}

func (f *faultEnv) followerOf(t *testing.T, topic string, p int) int32 {
	leader, replicas, _ := f.partition(t, topic, p)
	for _, r := range replicas {
		if r != leader {
			return r
		}
	}
	t.Fatalf("%s/%d has no follower: %v", topic, p, replicas)
	return 0
}

// storageContainer finds the container of storage node id by its address
// on the compose network.
func (f *faultEnv) storageContainer(t *testing.T, id int32) string {
	t.Helper()
	addr := ""
	for _, n := range f.describe(t).StorageNodes {
		if n.ID == id {
			addr, _, _ = net.SplitHostPort(n.Address)
		}
	}
	for _, c := range strings.Fields(f.dc("ps", "-q", "storage")) {
		if f.containerIP(c) == addr {
			return c
		}
	}
	t.Fatalf("no storage container has node %d's address %q", id, addr)
	return ""
}

func (f *faultEnv) containerIP(c string) string {
	out, _, _ := f.run(nil, "docker", "inspect", "-f", `{{(index .NetworkSettings.Networks "`+f.network+`").IPAddress}}`, c)
	return strings.TrimSpace(out)
}

// disconnect takes container c off the compose network (a real network
// partition: its peers and it see no packets, its processes run on) and
// returns the heal: connect it again with its address and its service
// name as DNS alias.
func (f *faultEnv) disconnect(t *testing.T, c, alias string) func() {
	ip := f.containerIP(c)
	f.must("docker", "network", "disconnect", f.network, c)
	return func() { f.must("docker", "network", "connect", "--ip", ip, "--alias", alias, f.network, c) }
}

func (f *faultEnv) waitLeaderMoves(t *testing.T, topic string, p int, fromContainer string) {
	t.Helper()
	if err := testutil.Poll(40*time.Second, func() error {
		leader, _, _ := f.partition(t, topic, p)
		for _, n := range f.describe(t).StorageNodes {
			if n.ID == leader && n.State == "alive" {
				if host, _, _ := net.SplitHostPort(n.Address); host == f.containerIP(fromContainer) && host != "" {
					return fmt.Errorf("node %d in the faulty container still leads %s/%d", leader, topic, p)
				}
				return nil
			}
		}
		return fmt.Errorf("leader %d of %s/%d is not alive", leader, topic, p)
	}); err != nil {
		t.Fatal(err)
	}
}

func (f *faultEnv) waitNodeState(t *testing.T, id int32, state string) {
	t.Helper()
	if err := testutil.Poll(40*time.Second, func() error {
		for _, n := range f.describe(t).StorageNodes {
			if n.ID == id && n.State != state {
				return fmt.Errorf("node %d is %s", id, n.State)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func (f *faultEnv) waitAlive(t *testing.T, n int) {
	t.Helper()
	if err := testutil.Poll(90*time.Second, func() error {
		alive := 0
		for _, sn := range f.describe(t).StorageNodes {
			if sn.State == "alive" {
				alive++
			}
		}
		if alive != n {
			return fmt.Errorf("%d storage nodes alive, want %d", alive, n)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func (f *faultEnv) activeController(t *testing.T) string {
	t.Helper()
	var active []string
	if err := testutil.Poll(30*time.Second, func() error {
		if active = f.describe(t).active(); len(active) != 1 {
			return fmt.Errorf("active controllers %v", active)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return active[0]
}

func (f *faultEnv) waitActiveNot(t *testing.T, name string) {
	t.Helper()
	if err := testutil.Poll(40*time.Second, func() error {
		var cl clusterInfo
		if err := f.cliJSON(&cl, "cluster", "describe"); err != nil {
			return err
		}
		if a := cl.active(); len(a) != 1 || a[0] == name {
			return fmt.Errorf("active controllers %v (faulty %s)", a, name)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// waitSettled waits until every partition of both topics has 3 replicas,
// all in sync (no move in flight), and done(cluster) holds.
func (f *faultEnv) waitSettled(t *testing.T, done func(clusterInfo) error) {
	t.Helper()
	if err := testutil.Poll(120*time.Second, func() error {
		for _, topic := range []string{kafkaTopic, grpcTopic} {
			var ti topicInfo
			if err := f.cliJSON(&ti, "topic", "describe", topic); err != nil {
				return err
			}
			for _, p := range ti.Partitions {
				if len(p.Replicas) != 3 || len(p.ISR) != 3 {
					return fmt.Errorf("%s/%d: replicas %v ISR %v", topic, p.Partition, p.Replicas, p.ISR)
				}
			}
		}
		var cl clusterInfo
		if err := f.cliJSON(&cl, "cluster", "describe"); err != nil {
			return err
		}
		return done(cl)
	}); err != nil {
		t.Fatal(err)
	}
}

// replicasIdentical waits, with the workloads stopped, until the replicas
// of every partition hold the same log bytes (read from each container's
// volume with docker cp).
func (f *faultEnv) replicasIdentical(t *testing.T) {
	t.Helper()
	f.waitSettled(t, func(clusterInfo) error { return nil })
	for _, topic := range []string{kafkaTopic, grpcTopic} {
		for p := 0; p < partitions; p++ {
			_, replicas, _ := f.partition(t, topic, p)
			if err := testutil.Poll(30*time.Second, func() error {
				var ref []byte
				for i, id := range replicas {
					b, err := f.replicaLog(t, id, fmt.Sprintf("%s-%d", topic, p))
					if err != nil {
						return err
					}
					if i == 0 {
						ref = b
					} else if !bytes.Equal(ref, b) {
						return fmt.Errorf("%s/%d: node %d has %d log bytes, node %d %d", topic, p, replicas[0], len(ref), id, len(b))
					}
				}
				if len(ref) == 0 {
					return fmt.Errorf("%s/%d: empty log", topic, p)
				}
				return nil
			}); err != nil {
				t.Error(err)
			}
		}
	}
}

// replicaLog is the concatenated segment files of one replica.
func (f *faultEnv) replicaLog(t *testing.T, id int32, dir string) ([]byte, error) {
	cmd := exec.Command("docker", "cp", f.storageContainer(t, id)+":/data/storage/"+dir, "-")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("docker cp %s of node %d: %v: %s", dir, id, err, errOut.String())
	}
	segs := map[string][]byte{}
	tr := tar.NewReader(&out)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if strings.HasSuffix(h.Name, ".log") {
			b, err := io.ReadAll(io.LimitReader(tr, 1<<30))
			if err != nil {
				return nil, err
			}
			segs[filepath.Base(h.Name)] = b
		}
	}
	names := make([]string, 0, len(segs))
	for n := range segs {
		names = append(names, n)
	}
	sort.Strings(names)
	var all []byte
	for _, n := range names {
		all = append(all, segs[n]...)
	}
	return all, nil
}

// consumerLogger prints the Kafka consumer's errors, and with
// STRATA_FAULTS_DEBUG=1 its debug lines about offsets and epochs (why a
// group cannot start fetching).
type consumerLogger struct{}

func (consumerLogger) Level() kgo.LogLevel {
	if os.Getenv("STRATA_FAULTS_DEBUG") != "" {
		return kgo.LogLevelDebug
	}
	return kgo.LogLevelError
}

func (consumerLogger) Log(level kgo.LogLevel, msg string, kv ...any) {
	if level > kgo.LogLevelError && !strings.Contains(msg, "offset") && !strings.Contains(msg, "epoch") {
		return
	}
	fmt.Fprintf(os.Stderr, "kafka consumer: %s %s %v\n", level, msg, kv)
}

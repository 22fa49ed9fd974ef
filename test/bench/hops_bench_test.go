package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/codec"
	"github.com/strata-io/strata/internal/recordbatch"
	"github.com/strata-io/strata/internal/rpc"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkHops follows acks=all RF=3 produces of one 100-byte record, one
// at a time, through every hop: it runs `strata dev` at debug level, whose
// storage nodes log wall-clock timestamps of each replication step
// (services/storage/timing.go), lines them up with the client's send and
// acknowledgement times, and prints the p50, p90 and p99 of each hop. kfake's
// round trip, measured the same way, is the floor of client and loopback;
// kfake in a process of its own adds what crossing between processes costs
// (on a VM, waking a thread of the other process), which every Strata
// round trip pays and in-process kfake does not. Run with `make bench-hops`.
func BenchmarkHops(b *testing.B) {
	logPath := filepath.Join(b.TempDir(), "dev.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	defer logFile.Close()
	dev := startDevProc(b, devOptions{logLevel: "debug", stderr: logFile})
	fake, err := kfake.NewCluster(kfake.NumBrokers(3))
	if err != nil {
		b.Fatal(err)
	}
	defer fake.Close()
	fakeProc := startKfakeProc(b)
	const n = 500
	for range b.N {
		for _, addr := range []string{fake.ListenAddrs()[0], fakeProc, dev.kafka} {
			if err := benchTopicN(addr, "hops", 1, 3); err != nil {
				b.Fatal(err)
			}
		}
		floor, err := sequentialProduces(fake.ListenAddrs()[0], "hops", n)
		if err != nil {
			b.Fatal(err)
		}
		apart, err := sequentialProduces(fakeProc, "hops", n)
		if err != nil {
			b.Fatal(err)
		}
		sends, err := sequentialProduces(dev.kafka, "hops", n)
		if err != nil {
			b.Fatal(err)
		}
		unary, err := unaryProduces(dev.grpc, n)
		if err != nil {
			b.Fatal(err)
		}
		dev.kill() // flushes nothing more into the log
		lines, err := readTiming(logPath)
		if err != nil {
			b.Fatal(err)
		}
		h := lineUp(sends, lines)
		fmt.Printf("\none acks=all RF=3 produce of 1 × 100 B, %d in sequence, linger 0 (µs; %d lined up)\n", n, len(h["total"]))
		fmt.Printf("%-58s %8s %8s %8s\n", "hop", "p50", "p90", "p99")
		floorRTT, apartRTT := roundTrips(floor), roundTrips(apart)
		for _, row := range []struct{ key, name string }{
			{"", "kfake round trip (client + loopback floor)"},
			{"apart", "kfake round trip, kfake in its own process"},
			{"unary", "one unary storage Produce, acks=leader, RF=1 (gRPC floor)"},
			{"total", "client send → acknowledgement"},
			{"in", "client send → storage leader has the request (gateway in)"},
			{"append", "leader append (producer checks + log write)"},
			{"wake", "append → replica fetch answered (follower wake-up)"},
			{"toFollower", "answer → follower has it (gRPC hop)"},
			{"fappend", "follower append"},
			{"nextFetch", "follower append → next fetch sent"},
			{"toLeader", "next fetch → leader has it (report back)"},
			{"hw", "last report → produce answered (HW advance + wake)"},
			{"out", "storage answer → client acknowledgement (gateway out)"},
		} {
			v := h[row.key]
			switch row.key {
			case "":
				v = floorRTT
			case "apart":
				v = apartRTT
			case "unary":
				v = unary
			}
			fmt.Printf("%-58s %8.0f %8.0f %8.0f\n", row.name, quantile(v, 0.5), quantile(v, 0.9), quantile(v, 0.99))
		}
	}
}

// roundTrips is each send's time to its acknowledgement, in µs.
func roundTrips(sends []sent) []float64 {
	out := make([]float64, len(sends))
	for i, s := range sends {
		out[i] = float64(s.acked-s.sent) / 1e3
	}
	return out
}

// unaryProduces times n storage Produce calls of one 100-byte record,
// acks=leader, to the leader of an RF=1 partition, one at a time: the cost
// of one unary gRPC call and an append, without the gateway.
func unaryProduces(grpcAddr string, n int) ([]float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := rpc.Dial(grpcAddr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	admin := adminv1.NewAdminServiceClient(conn)
	if _, err := admin.CreateTopic(ctx, &adminv1.CreateTopicRequest{Name: "hops-unary", Partitions: 1, ReplicationFactor: 1}); err != nil {
		return nil, err
	}
	var leader string
	for leader == "" && ctx.Err() == nil {
		t, err := admin.DescribeTopic(ctx, &adminv1.DescribeTopicRequest{Name: "hops-unary"})
		cl, cerr := admin.DescribeCluster(ctx, &adminv1.DescribeClusterRequest{})
		if err == nil && cerr == nil && len(t.GetTopic().GetPartitions()) == 1 {
			for _, sn := range cl.GetStorageNodes() {
				if sn.GetId() == t.GetTopic().GetPartitions()[0].GetLeader() {
					leader = sn.GetAddress()
				}
			}
		}
		if leader == "" {
			time.Sleep(20 * time.Millisecond) // polling for the leader, with the context's deadline
		}
	}
	sconn, err := rpc.Dial(leader)
	if err != nil {
		return nil, err
	}
	defer sconn.Close()
	st := storagev1.NewStorageServiceClient(sconn)
	recs := []recordbatch.BuildRecord{{Value: make([]byte, 100)}}
	var out []float64
	for i := 0; len(out) < n && ctx.Err() == nil; i++ {
		body, err := recordbatch.Build(recordbatch.ProducerOptions(codec.None), recs)
		if err != nil {
			return nil, err
		}
		t0 := time.Now()
		r, err := st.Produce(ctx, &storagev1.ProduceRequest{Acks: storagev1.Acks_ACKS_LEADER, TimeoutMs: 5000,
			Partitions: []*storagev1.ProducePartition{{Topic: "hops-unary", Partition: 0, Records: body}}})
		d := time.Since(t0)
		if err != nil || r.GetPartitions()[0].GetError() != nil {
			continue // the leader is still taking the partition up
		}
		if i >= 20 {
			out = append(out, float64(d)/1e3)
		}
	}
	return out, ctx.Err()
}

// sent is one produce's client-side times (wall clock, ns).
type sent struct{ sent, acked int64 }

// sequentialProduces sends n single-record acks=all produces, one at a
// time, and returns when each was sent and acknowledged.
func sequentialProduces(addr, topic string, n int) ([]sent, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	value := make([]byte, 100)
	out := make([]sent, 0, n)
	for i := range n + 20 {
		t0 := time.Now().UnixNano()
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
			return nil, err
		}
		if i >= 20 { // the first ones warm up connections
			out = append(out, sent{t0, time.Now().UnixNano()})
		}
	}
	return out, nil
}

// timingLine is one debug timing line of a storage node.
type timingLine struct {
	msg  string
	kv   map[string]int64
	node int64
}

var (
	msgRE = regexp.MustCompile(`msg="([^"]+)"`)
	kvRE  = regexp.MustCompile(` ([a-z_]+)=(-?[0-9]+)\b`)
)

// readTiming parses the timing lines of a `strata dev` debug log.
func readTiming(path string) ([]timingLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []timingLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := msgRE.FindStringSubmatch(sc.Text())
		if m == nil || (m[1] != "produce timing" && m[1] != "replica fetch served" && m[1] != "replica fetch applied") {
			continue
		}
		l := timingLine{msg: m[1], kv: map[string]int64{}}
		for _, kv := range kvRE.FindAllStringSubmatch(sc.Text(), -1) {
			v, _ := strconv.ParseInt(kv[2], 10, 64)
			l.kv[kv[1]] = v
		}
		l.node = l.kv["node_id"]
		out = append(out, l)
	}
	return out, sc.Err()
}

// lineUp matches each client produce with the leader's produce timing line
// and each follower's fetch exchanges, and returns every hop's durations
// in µs.
func lineUp(sends []sent, lines []timingLine) map[string][]float64 {
	var produces, served, applied []timingLine
	for _, l := range lines {
		switch l.msg {
		case "produce timing":
			produces = append(produces, l)
		case "replica fetch served":
			served = append(served, l)
		case "replica fetch applied":
			applied = append(applied, l)
		}
	}
	sortBy := func(ls []timingLine, k string) {
		slices.SortFunc(ls, func(a, b timingLine) int { return int(a.kv[k] - b.kv[k]) })
	}
	sortBy(produces, "received_ns")
	sortBy(served, "received_ns")
	sortBy(applied, "sent_ns")
	// first returns the first line of ls (sorted by k) with k ≥ at that ok accepts.
	first := func(ls []timingLine, k string, at int64, ok func(timingLine) bool) (timingLine, bool) {
		i, _ := slices.BinarySearchFunc(ls, at, func(l timingLine, t int64) int { return int(l.kv[k] - t) })
		for ; i < len(ls); i++ {
			if ok(ls[i]) {
				return ls[i], true
			}
		}
		return timingLine{}, false
	}
	out := map[string][]float64{}
	add := func(k string, ns int64) { out[k] = append(out[k], float64(ns)/1e3) }
	for _, s := range sends {
		p, ok := first(produces, "received_ns", s.sent, func(timingLine) bool { return true })
		if !ok || p.kv["replicated_ns"] > s.acked {
			continue
		}
		leader, appended := p.node, p.kv["appended_ns"]
		var hops [][5]int64
		for _, f := range followersOf(served, leader) {
			fromLeader := func(l timingLine) bool { return l.node == leader && l.kv["follower"] == f }
			toLeader := func(l timingLine) bool { return l.node == f && l.kv["leader"] == leader }
			e1, ok1 := first(served, "received_ns", appended-int64(time.Second), func(l timingLine) bool {
				return fromLeader(l) && l.kv["bytes"] > 0 && l.kv["answered_ns"] >= appended
			})
			f1, ok2 := first(applied, "sent_ns", appended-int64(time.Second), func(l timingLine) bool {
				return toLeader(l) && l.kv["bytes"] > 0 && l.kv["received_ns"] >= e1.kv["answered_ns"]
			})
			f2, ok3 := first(applied, "sent_ns", f1.kv["appended_ns"], toLeader)
			e2, ok4 := first(served, "received_ns", f2.kv["sent_ns"], fromLeader)
			if !ok1 || !ok2 || !ok3 || !ok4 {
				hops = nil
				break
			}
			hops = append(hops, [5]int64{e1.kv["answered_ns"], f1.kv["received_ns"], f1.kv["appended_ns"], f2.kv["sent_ns"], e2.kv["received_ns"]})
		}
		if len(hops) != 2 {
			continue
		}
		// The produce waits for the follower that reported last.
		h := hops[0]
		if hops[1][4] > h[4] {
			h = hops[1]
		}
		add("total", s.acked-s.sent)
		add("in", p.kv["received_ns"]-s.sent)
		add("append", appended-p.kv["received_ns"])
		add("wake", h[0]-appended)
		add("toFollower", h[1]-h[0])
		add("fappend", h[2]-h[1])
		add("nextFetch", h[3]-h[2])
		add("toLeader", h[4]-h[3])
		add("hw", p.kv["replicated_ns"]-h[4])
		add("out", s.acked-p.kv["replicated_ns"])
	}
	return out
}

// followersOf lists the followers that fetched from leader.
func followersOf(served []timingLine, leader int64) []int64 {
	var out []int64
	for _, l := range served {
		if f := l.kv["follower"]; l.node == leader && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// quantile returns the q-quantile of v (0 when empty).
func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

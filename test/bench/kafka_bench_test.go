// Package bench drives real Kafka clients against `strata dev` and, in the
// same run, against franz-go's in-memory kfake broker as the baseline.
// Run with `make bench-kafka`.
package bench

import (
	"bufio"
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func kafkaFreeAddr(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startKafkaDev builds and runs `strata dev`, returning its Kafka and gRPC addresses.
func startKafkaDev(b *testing.B) (kafka, grpcAddr string) {
	d := startDevProc(b, devOptions{})
	return d.kafka, d.grpc
}

// startDevAddrs builds and runs `strata dev`, returning its Kafka, gRPC and
// HTTP (REST) addresses.
func startDevAddrs(b *testing.B) (kafka, grpcAddr, httpAddr string) {
	d := startDevProc(b, devOptions{})
	return d.kafka, d.grpc, d.http
}

// devOptions adjusts the `strata dev` a benchmark starts.
type devOptions struct {
	logLevel string    // warn unless set
	stderr   io.Writer // os.Stderr unless set
	dataDir  string    // a fresh temporary directory unless set
	args     []string  // more flags
}

// devProc is a running `strata dev`.
type devProc struct {
	kafka, grpc, http string
	controller        string // the controller's gRPC address, from the banner
	cmd               *exec.Cmd
	bin, dataDir      string
}

// startDevProc builds and runs `strata dev` and waits until it is up.
func startDevProc(b *testing.B, o devOptions) *devProc {
	b.Helper()
	dir := b.TempDir()
	d := &devProc{bin: filepath.Join(dir, "strata"), dataDir: cmp.Or(o.dataDir, filepath.Join(dir, "data"))}
	build := exec.Command("go", "build", "-o", d.bin, "../../cmd/strata")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		b.Fatal(err)
	}
	// A free port can be taken (by a client socket's local port) before
	// the process binds it: try again on others.
	for attempt := 1; ; attempt++ {
		d.kafka, d.grpc, d.http = kafkaFreeAddr(b), kafkaFreeAddr(b), kafkaFreeAddr(b)
		err := d.tryStart(b, o)
		if err == nil {
			return d
		}
		if attempt == 3 {
			b.Fatal(err)
		}
	}
}

// start runs the process on d's addresses and data directory (again, for
// a restart) and waits until it is up.
func (d *devProc) start(b *testing.B, o devOptions) {
	b.Helper()
	if err := d.tryStart(b, o); err != nil {
		b.Fatal(err)
	}
}

// tryStart is start, failing when the process exits before it is up.
func (d *devProc) tryStart(b *testing.B, o devOptions) error {
	b.Helper()
	level := cmp.Or(o.logLevel, "warn")
	args := append([]string{"dev", "--data-dir", d.dataDir, "--grpc-addr", d.grpc,
		"--http-addr", d.http, "--kafka-addr", d.kafka, "--log-level", level}, o.args...)
	cmd := exec.Command(d.bin, args...)
	if limit := os.Getenv("STRATA_DEV_GOMEMLIMIT"); limit != "" {
		// For `strata dev` alone: the benchmark process (clients, kfake)
		// keeps its own.
		cmd.Env = append(os.Environ(), "GOMEMLIMIT="+limit)
	}
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = cmp.Or[io.Writer](o.stderr, os.Stderr)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	d.cmd = cmd
	b.Cleanup(func() { d.kill() })
	sc := bufio.NewScanner(out)
	up := false
	for !up && sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "controller "); ok {
			d.controller, _, _ = strings.Cut(rest, ",")
		}
		up = strings.Contains(sc.Text(), "Press Ctrl-C")
	}
	if !up {
		d.kill()
		return fmt.Errorf("strata dev exited before it was up: %v", d.cmd.ProcessState)
	}
	go func() {
		for sc.Scan() {
		}
	}()
	return nil
}

// stop ends the process as Ctrl-C does and waits for it.
func (d *devProc) stop() {
	if d.cmd != nil && d.cmd.ProcessState == nil {
		_ = d.cmd.Process.Signal(os.Interrupt)
		_ = d.cmd.Wait()
	}
}

// kill ends the process (SIGKILL) and waits for it.
func (d *devProc) kill() {
	if d.cmd != nil && d.cmd.ProcessState == nil {
		_ = d.cmd.Process.Kill()
		_ = d.cmd.Wait()
	}
}

type kafkaWorkload struct {
	records, size int
}

type kafkaResult struct {
	produceRate, consumeRate float64 // records/s
	produceMBs, consumeMBs   float64
	p50, p99                 time.Duration
	err                      error
}

func kafkaCreateTopic(ctx context.Context, cl *kgo.Client, name string, rf int16) error {
	return kafkaCreateTopicN(ctx, cl, name, 6, rf)
}

// kafkaCreateTopicN creates a topic of partitions partitions; one that
// exists already is fine.
func kafkaCreateTopicN(ctx context.Context, cl *kgo.Client, name string, partitions int32, rf int16) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 120_000
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = name, partitions, rf
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	if c := resp.Topics[0].ErrorCode; c != 0 && c != 36 {
		return fmt.Errorf("create topic %s: error %d", name, c)
	}
	return nil
}

func runKafka(addr, topic string, rf int16, acks kgo.Acks, idempotent bool, w kafkaWorkload) kafkaResult {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	opts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.RequiredAcks(acks), kgo.ProducerBatchMaxBytes(1 << 20), kgo.MaxBufferedRecords(100000)}
	if !idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return kafkaResult{err: err}
	}
	defer cl.Close()
	if err := kafkaCreateTopic(ctx, cl, topic, rf); err != nil {
		return kafkaResult{err: err}
	}
	values := make([]byte, w.size*1024)
	_, _ = rand.Read(values)
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for i := range w.records {
		off := (i * 7919) % (len(values) - w.size)
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Value: values[off : off+w.size]}, func(_ *kgo.Record, err error) {
			if err != nil {
				firstErr.CompareAndSwap(nil, err)
			}
			wg.Done()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if e := firstErr.Load(); e != nil {
		return kafkaResult{err: e.(error)}
	}
	r := kafkaResult{produceRate: float64(w.records) / elapsed.Seconds()}
	r.produceMBs = r.produceRate * float64(w.size) / 1e6

	// Latency at a fixed 20,000 records/s for 3 s.
	var mu sync.Mutex
	var lats []time.Duration
	tick := time.NewTicker(time.Millisecond)
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		<-tick.C
		for range 20 {
			sent := time.Now()
			wg.Add(1)
			cl.Produce(ctx, &kgo.Record{Value: values[:w.size]}, func(_ *kgo.Record, err error) {
				mu.Lock()
				lats = append(lats, time.Since(sent))
				mu.Unlock()
				wg.Done()
			})
		}
	}
	tick.Stop()
	wg.Wait()
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	if len(lats) > 0 {
		r.p50, r.p99 = lats[len(lats)/2], lats[len(lats)*99/100]
	}

	// Consume everything back.
	total := w.records + len(lats)
	cons, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(50<<20))
	if err != nil {
		return kafkaResult{err: err}
	}
	defer cons.Close()
	start = time.Now()
	got := 0
	for got < total && ctx.Err() == nil {
		fs := cons.PollFetches(ctx)
		got += fs.NumRecords()
	}
	elapsed = time.Since(start)
	r.consumeRate = float64(got) / elapsed.Seconds()
	r.consumeMBs = r.consumeRate * float64(w.size) / 1e6
	return r
}

// BenchmarkKafka prints one table; its iterations are not meaningful (run
// with -benchtime 1x).
func BenchmarkKafka(b *testing.B) {
	strata, _ := startKafkaDev(b)
	fake, err := kfake.NewCluster(kfake.NumBrokers(3))
	if err != nil {
		b.Fatal(err)
	}
	defer fake.Close()
	fakeAddr := fake.ListenAddrs()[0]
	workloads := []kafkaWorkload{{1_000_000, 100}, {200_000, 1024}}
	if os.Getenv("BENCH_QUICK") != "" {
		workloads = []kafkaWorkload{{100_000, 100}, {20_000, 1024}}
	}
	type mode struct {
		name       string
		rf         int16
		acks       kgo.Acks
		idempotent bool
	}
	modes := []mode{{"RF=1 acks=1", 1, kgo.LeaderAck(), false}, {"RF=3 acks=all", 3, kgo.AllISRAcks(), true}}
	for range b.N {
		fmt.Printf("\n%-14s %-9s %-7s %12s %9s %12s %9s %9s %9s %s\n", "mode", "records", "target", "produce r/s", "MB/s", "consume r/s", "MB/s", "p50", "p99", "vs kfake (produce)")
		for _, m := range modes {
			for i, w := range workloads {
				topic := fmt.Sprintf("bench-%d-%d", m.rf, i)
				base := runKafka(fakeAddr, topic, m.rf, m.acks, m.idempotent, w)
				got := runKafka(strata, topic, m.rf, m.acks, m.idempotent, w)
				for _, row := range []struct {
					name string
					r    kafkaResult
				}{{"kfake", base}, {"strata", got}} {
					if row.r.err != nil {
						fmt.Printf("%-14s %-9s %-7s error: %v\n", m.name, fmt.Sprintf("%dx%dB", w.records, w.size), row.name, row.r.err)
						continue
					}
					ratio := ""
					if row.name == "strata" && base.err == nil {
						ratio = fmt.Sprintf("%.2f", row.r.produceRate/base.produceRate)
					}
					fmt.Printf("%-14s %-9s %-7s %12.0f %9.1f %12.0f %9.1f %9v %9v %s\n", m.name, fmt.Sprintf("%dx%dB", w.records, w.size), row.name,
						row.r.produceRate, row.r.produceMBs, row.r.consumeRate, row.r.consumeMBs, row.r.p50.Round(10*time.Microsecond), row.r.p99.Round(10*time.Microsecond), ratio)
				}
			}
		}
	}
}

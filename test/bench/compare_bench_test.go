package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	"github.com/strata-io/strata/internal/codec"
	"github.com/strata-io/strata/internal/recordbatch"
	"github.com/strata-io/strata/internal/rpc"
	"github.com/strata-io/strata/services/storage/log"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkCompare prints every figure of the performance issue with its
// ratio, measured in one run and over several rounds: kfake (franz-go's
// in-memory fake, no disk, no replication), Strata over the Kafka protocol
// and Strata over gRPC (client-encoded record batches over ProduceStream,
// as clients/go sends them). Produce runs are balanced (each half of its
// records in order, then half in reverse order: see balanced); consume and
// latency take turns going first. Run with `make
// bench-compare` (BENCH_QUICK=1: fewer records, two rounds).
func BenchmarkCompare(b *testing.B) {
	quick := os.Getenv("BENCH_QUICK") != ""
	rounds, n1k, n100, latFor := 3, 200_000, 1_000_000, 3*time.Second
	if quick {
		rounds, n1k, n100, latFor = 2, 20_000, 100_000, time.Second
	}
	dev := startDevProc(b, devOptions{})
	rss := watchRSS(dev.cmd.Process.Pid)
	defer rss.stop()
	fake, err := kfake.NewCluster(kfake.NumBrokers(3))
	if err != nil {
		b.Fatal(err)
	}
	defer fake.Close()
	fakeAddr := fake.ListenAddrs()[0]
	conn, err := rpc.Dial(dev.grpc)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	sc := streamv1.NewStreamServiceClient(conn)
	value := make([]byte, 1024)
	_, _ = rand.Read(value)

	type produceFig struct {
		name    string
		rf      int16
		size, n int
		acks    kgo.Acks
		sacks   streamv1.Acks
	}
	produces := []produceFig{
		{"produce 1 KiB RF=1 acks=1", 1, 1024, n1k, kgo.LeaderAck(), streamv1.Acks_ACKS_LEADER},
		{"produce 1 KiB RF=3 acks=all", 3, 1024, n1k, kgo.AllISRAcks(), streamv1.Acks_ACKS_ALL},
		{"produce 100 B RF=3 acks=all", 3, 100, n100, kgo.AllISRAcks(), streamv1.Acks_ACKS_ALL},
	}
	for range b.N {
		var sum compareSummary
		for r := range rounds {
			fmt.Printf("\n== round %d of %d ==\n", r+1, rounds)
			fmt.Printf("%-34s %11s %11s %11s %8s %8s %8s\n", "MB/s", "kfake", "kafka", "grpc", "k/kfake", "g/kfake", "g/k")
			for i, f := range produces {
				topic := fmt.Sprintf("cmp-%d-%d", i, r)
				for _, addr := range []string{fakeAddr, dev.kafka} {
					if err := benchTopic(addr, topic, f.rf); err != nil {
						b.Fatal(err)
					}
				}
				per := min(10000, max(1, 1<<20/(f.size+16))) // one batch of at most 1 MiB per request, as clients/go sends
				rates, err := balanced(f.n,
					func(n int) (float64, error) { return kafkaProduce(fakeAddr, topic, f.acks, n, value[:f.size]) },
					func(n int) (float64, error) { return kafkaProduce(dev.kafka, topic, f.acks, n, value[:f.size]) },
					func(n int) (float64, error) { return streamProduce(sc, topic, f.sacks, n, value[:f.size], per, true) })
				if err != nil {
					b.Fatalf("%s: %v", f.name, err)
				}
				kf, k, g := rates[0], rates[1], rates[2]
				mb := float64(f.size) / 1e6
				sum.row(f.name, kf*mb, k*mb, g*mb)
				fmt.Printf("%-34s %11.1f %11.1f %11.1f %8.2f %8.2f %8.2f   RSS %.0f MB\n", f.name, kf*mb, k*mb, g*mb, k/kf, g/kf, g/k, float64(rss.max())/1e6)
			}
			// Consume the 1 KiB RF=3 records this round wrote, from the start,
			// with a new group each (franz-go on kfake and on Strata, gRPC
			// Consume on Strata).
			topic := fmt.Sprintf("cmp-1-%d", r)
			var kf, k, g float64
			err := rotate(r,
				func() (err error) { kf, err = kafkaConsume(fakeAddr, topic, "cmp-"+topic, n1k); return err },
				func() (err error) { k, err = kafkaConsume(dev.kafka, topic, "cmp-"+topic, n1k); return err },
				func() (err error) { g, err = streamConsume(sc, topic, "cmp-grpc-"+topic, n1k); return err })
			if err != nil {
				b.Fatalf("consume: %v", err)
			}
			sum.row("consume 1 KiB (group member)", kf*1024/1e6, k*1024/1e6, g*1024/1e6)
			fmt.Printf("%-34s %11.1f %11.1f %11.1f %8.2f %8.2f %8.2f\n", "consume 1 KiB (group member)", kf*1024/1e6, k*1024/1e6, g*1024/1e6, k/kf, g/kf, g/k)

			fmt.Printf("%-34s %11s %11s %11s %8s %8s %8s\n", "latency 100 B RF=3 acks=all linger 0", "kfake", "kafka", "grpc", "k/kfake", "g/kfake", "g/k")
			for _, rate := range []int{20, 100} {
				topic := fmt.Sprintf("cmp-lat-%d-%d", rate, r)
				for _, addr := range []string{fakeAddr, dev.kafka} {
					if err := benchTopic(addr, topic, 3); err != nil {
						b.Fatal(err)
					}
				}
				var lat [3][2]time.Duration
				err := rotate(r,
					func() (err error) {
						lat[0][0], lat[0][1], err = kafkaLatencyAt(fakeAddr, topic, value[:100], rate, latFor)
						return err
					},
					func() (err error) {
						lat[1][0], lat[1][1], err = kafkaLatencyAt(dev.kafka, topic, value[:100], rate, latFor)
						return err
					},
					func() (err error) {
						lat[2][0], lat[2][1], err = streamLatencyAt(sc, topic, value[:100], rate, latFor, true)
						return err
					})
				if err != nil {
					b.Fatalf("latency: %v", err)
				}
				for q, qn := range []string{"p50", "p99"} {
					name := fmt.Sprintf("%dk rec/s %s (ms)", rate, qn)
					kf, k, g := ms(lat[0][q]), ms(lat[1][q]), ms(lat[2][q])
					sum.row(name, kf, k, g)
					fmt.Printf("%-34s %11.2f %11.2f %11.2f %8.1f %8.1f %8.2f\n", name, kf, k, g, k/kf, g/kf, g/k)
				}
			}
			logMBs, plainMBs, err := appendVsPlain(b.TempDir(), 256<<20)
			if err != nil {
				b.Fatal(err)
			}
			sum.logRatios = append(sum.logRatios, logMBs/plainMBs)
			fmt.Printf("%-34s %11s %11.1f %11.1f %8s %8s %8.2f\n", "log append vs plain write (MB/s)", "", logMBs, plainMBs, "", "", logMBs/plainMBs)
			fresh, warm, err := touchRates(256 << 20)
			if err != nil {
				b.Fatal(err)
			}
			sum.fresh = append(sum.fresh, fresh)
			fmt.Printf("%-34s %11s %11.0f   (%.1f µs a page; pages already taken: %.0f MB/s)\n", "new memory, first write (MB/s)", "",
				fresh, float64(os.Getpagesize())/fresh, warm)
			fmt.Printf("%-34s %11s %11.0f\n", "strata dev RSS, max so far (MB)", "", float64(rss.max())/1e6)
			// Both drop the round's topics, so every round starts from the
			// same state: idle partitions left on Strata would slow every
			// replica fetch of the next rounds (docs/performance.md, Scaling).
			for _, addr := range []string{fakeAddr, dev.kafka} {
				if err := deleteRoundTopics(addr, r); err != nil {
					b.Fatal(err)
				}
			}
		}
		sum.print(rounds, float64(rss.max())/1e6)
	}
}

// compareSummary collects each figure's values over the rounds.
type compareSummary struct {
	names     []string
	vals      map[string][][3]float64
	logRatios []float64
	fresh     []float64 // new memory's first-write MB/s, each round
}

func (s *compareSummary) row(name string, kf, k, g float64) {
	if s.vals == nil {
		s.vals = map[string][][3]float64{}
	}
	if _, ok := s.vals[name]; !ok {
		s.names = append(s.names, name)
	}
	s.vals[name] = append(s.vals[name], [3]float64{kf, k, g})
}

// print writes each figure as min–max over the rounds, with the ratios'
// ranges, in the table form.
func (s *compareSummary) print(rounds int, rssMB float64) {
	fmt.Printf("\n== summary over %d rounds (min–max) ==\n", rounds)
	fmt.Printf("| %s | %s | %s | %s | %s | %s | %s |\n| --- | --- | --- | --- | --- | --- | --- |\n",
		"measure", "kfake", "Strata Kafka", "Strata gRPC", "Kafka/kfake", "gRPC/kfake", "gRPC/Kafka")
	for _, name := range s.names {
		v := s.vals[name]
		col := func(f func([3]float64) float64, prec int) string {
			lo, hi := f(v[0]), f(v[0])
			for _, x := range v[1:] {
				lo, hi = min(lo, f(x)), max(hi, f(x))
			}
			return strconv.FormatFloat(lo, 'f', prec, 64) + "–" + strconv.FormatFloat(hi, 'f', prec, 64)
		}
		prec := 1
		if strings.HasSuffix(name, "(ms)") {
			prec = 2
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s |\n", name,
			col(func(x [3]float64) float64 { return x[0] }, prec), col(func(x [3]float64) float64 { return x[1] }, prec),
			col(func(x [3]float64) float64 { return x[2] }, prec), col(func(x [3]float64) float64 { return x[1] / x[0] }, 2),
			col(func(x [3]float64) float64 { return x[2] / x[0] }, 2), col(func(x [3]float64) float64 { return x[2] / x[1] }, 2))
	}
	fmt.Printf("| log append / plain file write | | %.2f–%.2f | | | | |\n", slices.Min(s.logRatios), slices.Max(s.logRatios))
	fmt.Printf("| new memory, first write (MB/s) | | %.0f–%.0f | | | | |\n", slices.Min(s.fresh), slices.Max(s.fresh))
	fmt.Printf("| strata dev RSS, max (MB) | | %.0f | | | | |\n", rssMB)
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// rotate runs the three measures of a round, each round starting with a
// different one, so none always runs on the page cache and CPU state
// another left behind.
func rotate(r int, fs ...func() error) error {
	for i := range fs {
		if err := fs[(i+r)%len(fs)](); err != nil {
			return err
		}
	}
	return nil
}

// deleteRoundTopics drops a round's topics.
func deleteRoundTopics(addr string, round int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	var topics []string
	for i := range 3 {
		topics = append(topics, fmt.Sprintf("cmp-%d-%d", i, round))
	}
	for _, rate := range []int{20, 100} {
		topics = append(topics, fmt.Sprintf("cmp-lat-%d-%d", rate, round))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = kadmDelete(ctx, cl, topics)
	return err
}

// touchRates writes a byte into every page of size bytes of new anonymous
// memory, then does it again, and returns both rates in MB/s. The first
// pays for taking each page: a page fault, and on a VM whose host backs
// guest memory lazily (and takes freed memory back, as virtio-balloon's
// free page reporting does) a fault in the host as well. Every byte a
// benchmark puts in fresh memory, in the page cache or the heap, pays it:
// the figure says how much of a run's time is the machine's.
func touchRates(size int) (first, second float64, err error) {
	m, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return 0, 0, fmt.Errorf("mapping %d bytes: %w", size, err)
	}
	defer func() { _ = syscall.Munmap(m) }()
	pass := func() float64 {
		start := time.Now()
		for i := 0; i < len(m); i += os.Getpagesize() {
			m[i]++
		}
		return float64(len(m)) / 1e6 / time.Since(start).Seconds()
	}
	first = pass()
	return first, pass(), nil
}

// appendVsPlain appends total bytes of 100 × 1 KiB batches to a log (no
// fsync) and, interleaved in blocks of 64 batches, writes the same bytes to
// a plain file with sequential writes; it returns both rates in MB/s.
func appendVsPlain(dir string, total int) (float64, float64, error) {
	cfg := log.DefaultConfig()
	cfg.RetentionMs = -1
	l, err := log.Open(filepath.Join(dir, "p-0"), cfg)
	if err != nil {
		return 0, 0, err
	}
	defer l.Close()
	plain, err := os.Create(filepath.Join(dir, "plain"))
	if err != nil {
		return 0, 0, err
	}
	defer plain.Close()
	recs := make([]recordbatch.BuildRecord, 100)
	val := make([]byte, 1024)
	_, _ = rand.Read(val)
	for i := range recs {
		recs[i] = recordbatch.BuildRecord{Value: val, Timestamp: time.Now().UnixMilli()}
	}
	batch, err := recordbatch.Build(recordbatch.ProducerOptions(codec.None), recs)
	if err != nil {
		return 0, 0, err
	}
	const block = 64
	var ours, theirs time.Duration
	n := total / len(batch)
	for i := 0; i < n; i += block {
		t0 := time.Now()
		for range min(block, n-i) {
			if _, err := l.Append(batch, 0); err != nil {
				return 0, 0, err
			}
		}
		ours += time.Since(t0)
		t0 = time.Now()
		for range min(block, n-i) {
			if _, err := plain.Write(batch); err != nil {
				return 0, 0, err
			}
		}
		theirs += time.Since(t0)
	}
	mb := float64(n*len(batch)) / 1e6
	return mb / ours.Seconds(), mb / theirs.Seconds(), nil
}

// rssWatch samples a process's resident set size every 100 ms.
type rssWatch struct {
	mu   sync.Mutex
	peak int64
	done chan struct{}
	wg   sync.WaitGroup
}

func watchRSS(pid int) *rssWatch {
	w := &rssWatch{done: make(chan struct{})}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if v := readRSS(pid); v > 0 {
				w.mu.Lock()
				w.peak = max(w.peak, v)
				w.mu.Unlock()
			}
			select {
			case <-w.done:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

func (w *rssWatch) max() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.peak
}

func (w *rssWatch) stop() {
	close(w.done)
	w.wg.Wait()
}

// readRSS returns VmRSS of pid in bytes, 0 if unknown.
func readRSS(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// kadmDelete deletes topics with one DeleteTopics request.
func kadmDelete(ctx context.Context, cl *kgo.Client, topics []string) (*kmsg.DeleteTopicsResponse, error) {
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TimeoutMillis = 30_000
	for _, t := range topics {
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
		req.TopicNames = append(req.TopicNames, t)
	}
	return req.RequestWith(ctx, cl)
}

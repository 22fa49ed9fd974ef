package log

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/codec"
	"golang.org/x/sys/unix"
)

// benchConfig is the default config with time retention off.
func benchConfig() Config {
	c := DefaultConfig()
	c.RetentionMs = -1
	return c
}

// BenchmarkAppend appends batches of 100 × 1 KiB records and, in the same
// run and interleaved in blocks, writes the same bytes with plain
// sequential os.File.Write, reporting the ratio as x-plain and the slowest
// single append as worst-append-ms (a stall at a roll shows there).
func BenchmarkAppend(b *testing.B) {
	b.Run("nofsync", func(b *testing.B) { benchAppend(b, 0) })
	b.Run("fsync1MiB", func(b *testing.B) { benchAppend(b, 1<<20) })
}

func benchAppend(b *testing.B, syncEvery int) {
	dir := b.TempDir()
	l := openT(b, filepath.Join(dir, "p-0"), benchConfig())
	defer l.Close()
	plain, err := os.Create(filepath.Join(dir, "plain"))
	if err != nil {
		b.Fatal(err)
	}
	defer plain.Close()
	batch := batchOf(b, codec.None, 100, 1024, time.Now().UnixMilli())
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	const block = 64
	var ours, theirs, worst time.Duration
	var sinceSync, plainSinceSync int
	b.ResetTimer()
	for i := 0; i < b.N; i += block {
		n := min(block, b.N-i)
		t0 := time.Now()
		for j := 0; j < n; j++ {
			ta := time.Now()
			if _, err := l.Append(batch, 0); err != nil {
				b.Fatal(err)
			}
			worst = max(worst, time.Since(ta))
			if sinceSync += len(batch); syncEvery > 0 && sinceSync >= syncEvery {
				if err := l.Flush(); err != nil {
					b.Fatal(err)
				}
				sinceSync = 0
			}
		}
		ours += time.Since(t0)
		b.StopTimer()
		t0 = time.Now()
		for j := 0; j < n; j++ {
			if _, err := plain.Write(batch); err != nil {
				b.Fatal(err)
			}
			if plainSinceSync += len(batch); syncEvery > 0 && plainSinceSync >= syncEvery {
				if err := unix.Fdatasync(int(plain.Fd())); err != nil {
					b.Fatal(err)
				}
				plainSinceSync = 0
			}
		}
		theirs += time.Since(t0)
		b.StartTimer()
	}
	b.StopTimer()
	total := float64(b.N) * float64(len(batch)) / 1e6
	b.ReportMetric(total/theirs.Seconds(), "plain-MB/s")
	b.ReportMetric(theirs.Seconds()/ours.Seconds(), "x-plain")
	b.ReportMetric(float64(worst.Microseconds())/1000, "worst-append-ms")
}

// readBenchBytes is the log size for BenchmarkSequentialRead:
// STRATA_BENCH_READ_BYTES (e.g. 256MiB) or 1 GiB.
func readBenchBytes(b *testing.B) int64 {
	v := os.Getenv("STRATA_BENCH_READ_BYTES")
	if v == "" {
		return 1 << 30
	}
	mult := int64(1)
	for suf, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if strings.HasSuffix(v, suf) {
			v, mult = strings.TrimSuffix(v, suf), m
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		b.Fatalf("STRATA_BENCH_READ_BYTES=%q", os.Getenv("STRATA_BENCH_READ_BYTES"))
	}
	return n * mult
}

// BenchmarkSequentialRead reads a whole log from offset 0 in 1 MiB fetches
// and, in the same run, the same bytes from a plain file with 1 MiB reads.
func BenchmarkSequentialRead(b *testing.B) {
	size := readBenchBytes(b)
	dir := b.TempDir()
	l := openT(b, filepath.Join(dir, "p-0"), benchConfig())
	defer l.Close()
	plain, err := os.Create(filepath.Join(dir, "plain"))
	if err != nil {
		b.Fatal(err)
	}
	defer plain.Close()
	batch := batchOf(b, codec.None, 100, 1024, 1)
	for written := int64(0); written < size; written += int64(len(batch)) {
		if _, err := l.Append(batch, 0); err != nil {
			b.Fatal(err)
		}
		if _, err := plain.Write(batch); err != nil {
			b.Fatal(err)
		}
	}
	logBytes := l.Size()
	buf := make([]byte, 0, 2<<20)
	pbuf := make([]byte, 1<<20)
	b.SetBytes(logBytes)
	var ours, theirs time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		var got int64
		for off := int64(0); off < l.LogEndOffset(); {
			data, err := l.ReadAppend(buf[:0], off, 1<<20, l.LogEndOffset())
			if err != nil || len(data) == 0 {
				b.Fatalf("read at %d: %v", off, err)
			}
			got += int64(len(data))
			off = lastNext(data)
		}
		ours += time.Since(t0)
		if got != logBytes {
			b.Fatalf("read %d of %d bytes", got, logBytes)
		}
		b.StopTimer()
		t0 = time.Now()
		if _, err := plain.Seek(0, io.SeekStart); err != nil {
			b.Fatal(err)
		}
		for {
			_, err := plain.Read(pbuf)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		theirs += time.Since(t0)
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)*float64(logBytes)/1e6/theirs.Seconds(), "plain-MB/s")
	b.ReportMetric(theirs.Seconds()/ours.Seconds(), "x-plain")
}

// lastNext returns the offset after the last batch in data.
func lastNext(data []byte) int64 {
	var next int64
	for len(data) > 0 {
		n := int(uint32(data[8])<<24|uint32(data[9])<<16|uint32(data[10])<<8|uint32(data[11])) + 12
		next = int64FromBE(data) + int64(int32(uint32(data[23])<<24|uint32(data[24])<<16|uint32(data[25])<<8|uint32(data[26]))) + 1
		data = data[n:]
	}
	return next
}

// BenchmarkRandomRead fetches one batch at a random offset from logs of
// 10k and 1M single-record batches and reports p50/p99 latency.
func BenchmarkRandomRead(b *testing.B) {
	for _, n := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprintf("batches=%d", n), func(b *testing.B) {
			l := randomReadLog(b, n)
			leo := l.LogEndOffset()
			lat := make([]time.Duration, b.N)
			buf := make([]byte, 0, 4096)
			rng := rand.New(rand.NewPCG(1, 2))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				off := rng.Int64N(leo)
				t0 := time.Now()
				data, err := l.ReadAppend(buf[:0], off, 1, leo)
				lat[i] = time.Since(t0)
				if err != nil || len(data) == 0 {
					b.Fatalf("read %d: %v", off, err)
				}
			}
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
		})
	}
}

var randomLogs = map[int]*Log{}

// randomReadLog builds (once per process) a log of n single-record batches
// of ~170 bytes, appended 1,000 batches per call.
func randomReadLog(b *testing.B, n int) *Log {
	if l, ok := randomLogs[n]; ok {
		return l
	}
	dir := filepath.Join(benchRoot(b), fmt.Sprintf("random-%d", n))
	l := openT(b, dir, benchConfig())
	one := batchOf(b, codec.None, 1, 100, 1)
	chunk := make([]byte, 0, 1000*len(one))
	for i := 0; i < 1000; i++ {
		chunk = append(chunk, one...)
	}
	for i := 0; i < n; i += 1000 {
		k := min(1000, n-i)
		if _, err := l.Append(chunk[:k*len(one)], 0); err != nil {
			b.Fatal(err)
		}
	}
	randomLogs[n] = l
	return l
}

var benchRootDir string

// benchRoot is a directory shared by benchmark rounds, removed by TestMain.
func benchRoot(b *testing.B) string {
	if benchRootDir == "" {
		d, err := os.MkdirTemp("", "strata-bench")
		if err != nil {
			b.Fatal(err)
		}
		benchRootDir = d
	}
	return benchRootDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, l := range randomLogs {
		l.Close()
	}
	if benchRootDir != "" {
		os.RemoveAll(benchRootDir)
	}
	os.Exit(code)
}

// BenchmarkIdlePartitions opens 1,000 partition logs holding one batch
// each and reports the Go heap and process RSS they add.
func BenchmarkIdlePartitions(b *testing.B) {
	const parts = 1000
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		batch := batchOf(b, codec.None, 1, 100, 1)
		heap0, rss0 := memUse()
		b.StartTimer()
		logs := make([]*Log, parts)
		for p := range logs {
			l, err := Open(filepath.Join(dir, fmt.Sprintf("topic-%d", p)), benchConfig())
			if err != nil {
				b.Fatal(err)
			}
			if _, err := l.Append(batch, 0); err != nil {
				b.Fatal(err)
			}
			logs[p] = l
		}
		b.StopTimer()
		heap1, rss1 := memUse()
		b.ReportMetric(float64(heap1-heap0)/parts/1024, "heap-KiB/partition")
		b.ReportMetric(float64(rss1-rss0)/parts/1024, "rss-KiB/partition")
		for _, l := range logs {
			l.Close()
		}
		runtime.KeepAlive(logs)
		b.StartTimer()
	}
}

func memUse() (heap, rss int64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	data, _ := os.ReadFile("/proc/self/statm")
	f := strings.Fields(string(data))
	if len(f) > 1 {
		pages, _ := strconv.ParseInt(f[1], 10, 64)
		rss = pages * int64(os.Getpagesize())
	}
	return int64(ms.HeapAlloc), rss
}

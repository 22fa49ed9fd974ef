package cli

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// perfStats collects what a perf run measures: records, bytes, errors and
// one latency per record. Latencies are kept exactly (a sorted sample gives
// exact percentiles) up to maxLatencySamples, then by reservoir sampling so
// a long run stays within bounded memory.
type perfStats struct {
	mu       sync.Mutex
	start    time.Time
	records  int64
	bytes    int64
	errors   int64
	firstErr error
	samples  []time.Duration
	seen     int64 // latencies observed, including those not kept
	maxLat   time.Duration
	sumLat   time.Duration
	// The current progress window.
	wRecords, wBytes int64
	wSum, wMax       time.Duration
	wStart           time.Time
}

// maxLatencySamples bounds the latencies kept (8 bytes each: 32 MiB).
const maxLatencySamples = 4 << 20

func newPerfStats(now time.Time) *perfStats { return &perfStats{start: now, wStart: now} }

// record counts one delivered (or consumed) record of n bytes.
func (s *perfStats) record(n int, lat time.Duration) {
	if lat < 0 {
		lat = 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records++
	s.bytes += int64(n)
	s.wRecords++
	s.wBytes += int64(n)
	s.sumLat += lat
	s.wSum += lat
	s.maxLat = max(s.maxLat, lat)
	s.wMax = max(s.wMax, lat)
	s.seen++
	if len(s.samples) < maxLatencySamples {
		s.samples = append(s.samples, lat)
	} else if i := rand.Int64N(s.seen); i < maxLatencySamples {
		s.samples[i] = lat
	}
}

func (s *perfStats) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errors++
	if s.firstErr == nil {
		s.firstErr = err
	}
}

func (s *perfStats) count() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.records
}

// perfWindow is one progress line's figures.
type perfWindow struct {
	Records        int64
	RecordsPerSec  float64
	MBPerSec       float64
	AvgMs, MaxMs   float64
	TotalRecords   int64
	TotalErrors    int64
	ElapsedSeconds float64
}

// window returns the figures since the last call and starts a new window.
func (s *perfStats) window(now time.Time) perfWindow {
	s.mu.Lock()
	defer s.mu.Unlock()
	secs := now.Sub(s.wStart).Seconds()
	w := perfWindow{Records: s.wRecords, TotalRecords: s.records, TotalErrors: s.errors, ElapsedSeconds: now.Sub(s.start).Seconds(),
		MaxMs: ms(s.wMax)}
	if secs > 0 {
		w.RecordsPerSec = float64(s.wRecords) / secs
		w.MBPerSec = float64(s.wBytes) / secs / (1 << 20)
	}
	if s.wRecords > 0 {
		w.AvgMs = ms(s.wSum / time.Duration(s.wRecords))
	}
	s.wRecords, s.wBytes, s.wSum, s.wMax, s.wStart = 0, 0, 0, 0, now
	return w
}

// perfResult is a run's final figures; the JSON names follow the
// OpenMessaging Benchmark's result files where one fits (publishRate,
// publishLatency99pct, ...), with the consume side's names for perf
// consume (consumeRate, endToEndLatency99pct, ...).
type perfResult struct {
	Records        int64   `json:"records"`
	Bytes          int64   `json:"bytes"`
	Errors         int64   `json:"errors"`
	ElapsedSeconds float64 `json:"elapsedSeconds"`
	Rate           float64 `json:"-"` // records/s
	MBPerSec       float64 `json:"-"`
	AvgMs          float64 `json:"-"`
	P50, P75, P95  float64 `json:"-"`
	P99, P999, Max float64 `json:"-"`
}

func (s *perfStats) result(now time.Time) perfResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := perfResult{Records: s.records, Bytes: s.bytes, Errors: s.errors, ElapsedSeconds: now.Sub(s.start).Seconds(), Max: ms(s.maxLat)}
	if r.ElapsedSeconds > 0 {
		r.Rate = float64(s.records) / r.ElapsedSeconds
		r.MBPerSec = float64(s.bytes) / r.ElapsedSeconds / (1 << 20)
	}
	if s.seen > 0 {
		r.AvgMs = ms(s.sumLat / time.Duration(s.seen))
	}
	sorted := slices.Clone(s.samples)
	slices.Sort(sorted)
	r.P50, r.P75, r.P95 = percentile(sorted, 50), percentile(sorted, 75), percentile(sorted, 95)
	r.P99, r.P999 = percentile(sorted, 99), percentile(sorted, 99.9)
	return r
}

// percentile is the nearest-rank percentile of sorted, in milliseconds.
func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p*float64(len(sorted))/100-1e-9)) - 1 // -1e-9: 99.9/100*1000 is 999.0000000000001
	rank = min(max(rank, 0), len(sorted)-1)
	return ms(sorted[rank])
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

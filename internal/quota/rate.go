package quota

import (
	"math"
	"sync"
	"time"
)

// Defaults of the measurement window (Kafka's quota.window.num and
// quota.window.size.seconds).
const (
	DefaultSamples = 11
	DefaultWindow  = time.Second
	// maxSensors bounds the rates one Manager keeps; past it a new
	// client's traffic is not measured until idle rates are dropped.
	maxSensors = 100_000
)

// rate is Kafka's Rate over a SampledStat of windowed sums: samples of
// window ms each, n of them watched (plus one, so a sample that began
// before the watched span but has events in it is kept); the rate is the
// sum of the kept samples over the time since the oldest began, counted as
// at least n-1 full windows.
type rate struct {
	samples []sample
	cur     int
}

type sample struct {
	start, last int64 // ms: when it began, its last event
	value       float64
}

func (r *rate) record(v float64, now int64, n int, window int64) {
	if len(r.samples) == 0 {
		r.samples = append(r.samples, sample{start: now, last: now})
	}
	if s := &r.samples[r.cur]; now-s.start >= window { // complete: advance
		r.cur = (r.cur + 1) % (n + 1)
		if r.cur >= len(r.samples) {
			r.samples = append(r.samples, sample{start: now, last: now})
		} else {
			r.samples[r.cur] = sample{start: now, last: now}
		}
	}
	s := &r.samples[r.cur]
	s.value += v
	s.last = now
}

// purge resets the samples whose last event left the watched span.
func (r *rate) purge(now int64, n int, window int64) {
	for i := range r.samples {
		if now-r.samples[i].last >= int64(n)*window {
			r.samples[i] = sample{start: now, last: now}
		}
	}
}

// windowSize is Kafka's Rate.windowSize in ms.
func (r *rate) windowSize(now int64, n int, window int64) int64 {
	r.purge(now, n, window)
	oldest := now
	for _, s := range r.samples {
		oldest = min(oldest, s.start)
	}
	elapsed := now - oldest
	if full := elapsed / window; full < int64(n-1) {
		elapsed += (int64(n-1) - full) * window
	}
	return max(elapsed, 1)
}

// measure is the rate per second.
func (r *rate) measure(now int64, n int, window int64) float64 {
	ws := r.windowSize(now, n, window) // purges
	total := 0.0
	for _, s := range r.samples {
		total += s.value
	}
	return total / (float64(ws) / 1000)
}

// Manager measures clients' rates against their quotas, as Kafka's
// ClientQuotaManager does, for one gateway: each gateway enforces quotas
// on the traffic it serves (Kafka's quotas are per broker too).
type Manager struct {
	n      int
	window int64 // ms
	lookup Lookup
	gen    func() uint64
	now    func() time.Time

	// memo holds each connection's resolved quotas while gen stays.
	memoMu sync.RWMutex
	memo   map[string]memoEntry

	mu        sync.Mutex
	sensors   map[string]*sensor
	nextSweep int
}

type memoEntry struct {
	gen     uint64
	matches map[string]Match
}

// maxMemo bounds the memo; past it, it starts over.
const maxMemo = 10_000

type sensor struct {
	r    rate
	last int64
}

// NewManager returns a manager over samples windows of window each
// (0 and below: Kafka's defaults), reading quotas through lookup; gen, when
// given, changes whenever a quota does, and lets the manager keep each
// connection's resolved quotas until then.
func NewManager(samples int, window time.Duration, lookup Lookup, gen func() uint64) *Manager {
	if samples < 2 {
		samples = DefaultSamples
	}
	if window < time.Millisecond {
		window = DefaultWindow
	}
	return &Manager{n: samples, window: window.Milliseconds(), lookup: lookup, gen: gen, now: time.Now,
		sensors: map[string]*sensor{}, nextSweep: 1024, memo: map[string]memoEntry{}}
}

// Quotas resolves every quota that applies to a connection, by key. The
// map is shared: never modify it.
func (m *Manager) Quotas(user, clientID string) map[string]Match {
	if m.gen == nil {
		return Resolve(m.lookup, user, clientID, Keys()...)
	}
	key := user + "\x00" + clientID
	g := m.gen()
	m.memoMu.RLock()
	e, ok := m.memo[key]
	m.memoMu.RUnlock()
	if ok && e.gen == g {
		return e.matches
	}
	matches := Resolve(m.lookup, user, clientID, Keys()...)
	m.memoMu.Lock()
	if len(m.memo) >= maxMemo {
		clear(m.memo)
	}
	m.memo[key] = memoEntry{gen: g, matches: matches}
	m.memoMu.Unlock()
	return matches
}

// getLocked returns the sensor, creating it unless the table is full.
func (m *Manager) getLocked(key string, now int64) *sensor {
	s := m.sensors[key]
	if s != nil {
		return s
	}
	if len(m.sensors) >= m.nextSweep {
		idle := int64(m.n) * m.window
		for k, s := range m.sensors {
			if now-s.last > idle { // its rate is 0: nothing to remember
				delete(m.sensors, k)
			}
		}
		m.nextSweep = max(1024, 2*len(m.sensors))
	}
	if len(m.sensors) >= maxSensors {
		return nil
	}
	s = &sensor{}
	m.sensors[key] = s
	return s
}

// Record adds v to the match's rate and returns how long the client is
// throttled: 0 while the rate is within the bound, else Kafka's
// QuotaUtils.throttleTime, (rate - bound) / bound × the window the rate
// was measured over, rounded to the millisecond.
func (m *Manager) Record(q Match, v float64) time.Duration {
	now := m.now().UnixMilli()
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.getLocked(q.Sensor, now)
	if s == nil || q.Bound <= 0 {
		return 0
	}
	s.last = now
	s.r.record(v, now, m.n, m.window)
	value := s.r.measure(now, m.n, m.window)
	if value <= q.Bound {
		return 0
	}
	ms := math.Round((value - q.Bound) / q.Bound * float64(s.r.windowSize(now, m.n, m.window)))
	return time.Duration(min(ms, float64(math.MaxInt32))) * time.Millisecond
}

// Unrecord takes v back out of the match's rate (Kafka's
// unrecordQuotaSensor: a throttled Fetch is answered empty).
func (m *Manager) Unrecord(q Match, v float64) {
	now := m.now().UnixMilli()
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.sensors[q.Sensor]; s != nil {
		s.r.record(-v, now, m.n, m.window)
	}
}

// MaxValueInWindow is the most a client may take in one window span
// before it is throttled: bound × (samples − 1) × window (Kafka's
// getMaxValueInQuotaWindow, which caps a consumer's fetch size).
func (m *Manager) MaxValueInWindow(q Match) float64 {
	return q.Bound * float64(m.n-1) * float64(m.window) / 1000
}

// SampleWindow is one sample's length (quota.window.size.seconds): the
// longest request-rate throttle, as Kafka bounds its request quota's.
func (m *Manager) SampleWindow() time.Duration { return time.Duration(m.window) * time.Millisecond }

// Window is the span rates are measured over (samples × window).
func (m *Manager) Window() time.Duration {
	return time.Duration(int64(m.n)*m.window) * time.Millisecond
}

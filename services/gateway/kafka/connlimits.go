package kafka

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-io/strata/internal/limits"
)

// Connection and memory limits of the listener (internal/limits has the
// defaults and why): connection caps applied at accept, and byte budgets
// that pause reading instead of growing.

// connLimiter admits connections under a total and a per-IP cap.
type connLimiter struct {
	maxTotal, maxPerIP int
	mu                 sync.Mutex
	total              int
	perIP              map[string]int
	rejected           atomic.Int64
}

func newConnLimiter(maxTotal, maxPerIP int) *connLimiter {
	return &connLimiter{maxTotal: maxTotal, maxPerIP: maxPerIP, perIP: map[string]int{}}
}

// admit takes a slot for a connection from addr; false (and counted) when
// a cap is reached. release gives the slot back.
func (l *connLimiter) admit(addr net.Addr) (release func(), ok bool) {
	ip := hostOf(addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.maxTotal || l.perIP[ip] >= l.maxPerIP {
		l.rejected.Add(1)
		return nil, false
	}
	l.total++
	l.perIP[ip]++
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.total--
		if l.perIP[ip]--; l.perIP[ip] <= 0 {
			delete(l.perIP, ip)
		}
	}, true
}

func hostOf(addr net.Addr) string {
	if tcp, ok := addr.(*net.TCPAddr); ok {
		return tcp.IP.String()
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return host
}

// byteBudget is a counted pool of bytes; acquire waits for room.
type byteBudget struct {
	mu      sync.Mutex
	free    int64
	changed chan struct{} // closed and replaced on every release
	waits   atomic.Int64  // acquisitions that had to wait
}

func newByteBudget(n int64) *byteBudget {
	return &byteBudget{free: n, changed: make(chan struct{})}
}

// acquire takes n bytes, waiting while fewer are free; false if stop or
// abort closes first.
func (b *byteBudget) acquire(n int64, stop, abort <-chan struct{}) bool {
	waited := false
	for {
		b.mu.Lock()
		if b.free >= n {
			b.free -= n
			b.mu.Unlock()
			return true
		}
		ch := b.changed
		b.mu.Unlock()
		if !waited {
			waited = true
			b.waits.Add(1)
		}
		select {
		case <-ch:
		case <-stop:
			return false
		case <-abort:
			return false
		}
	}
}

// tryAcquire takes n bytes if that many are free, without waiting.
func (b *byteBudget) tryAcquire(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.free < n {
		return false
	}
	b.free -= n
	return true
}

func (b *byteBudget) release(n int64) {
	b.mu.Lock()
	b.free += n
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}

// reservation is the budget one request holds from before its body is
// read until it has been handled.
type reservation struct {
	c        *conn
	own, all int64
	once     sync.Once
}

// reserve waits until the connection's in-flight bytes and the gateway's
// queued request bytes have room for a frame of size bytes; nil when the
// connection ends or drains first.
func (c *conn) reserve(size int) *reservation {
	r := &reservation{c: c, own: min(int64(size), c.s.cfg.MaxInFlightBytes), all: int64(size)}
	if !c.inflight.acquire(r.own, c.draining, c.ctx.Done()) {
		return nil
	}
	if !c.s.queued.acquire(r.all, c.draining, c.ctx.Done()) {
		c.inflight.release(r.own)
		return nil
	}
	return r
}

func (r *reservation) release() {
	r.once.Do(func() {
		r.c.s.queued.release(r.all)
		r.c.inflight.release(r.own)
	})
}

// LimitStats reports connections refused at accept and reads paused for
// the queued.max.request.bytes budget.
func (s *Server) LimitStats() (rejectedConns, pausedReads int64) {
	return s.limiter.rejected.Load(), s.queued.waits.Load()
}

// applyLimitDefaults fills unset limits from internal/limits; the gateway
// budget always has room for one request of the largest size.
func (cfg *Config) applyLimitDefaults() {
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = limits.MaxConnections
	}
	if cfg.MaxConnectionsPerIP <= 0 {
		cfg.MaxConnectionsPerIP = limits.MaxConnectionsPerIP
	}
	if cfg.QueuedMaxRequestBytes <= 0 {
		cfg.QueuedMaxRequestBytes = limits.QueuedMaxRequestBytes
	}
	cfg.QueuedMaxRequestBytes = max(cfg.QueuedMaxRequestBytes, int64(cfg.MaxRequestBytes))
	if cfg.RequestReadGrace <= 0 {
		cfg.RequestReadGrace = limits.RequestReadGrace
	}
	if cfg.MaxInFlightBytes <= 0 {
		cfg.MaxInFlightBytes = limits.MaxInFlightBytes
	}
}

// frameDeadline is when a frame of size bytes whose size was just read must
// have arrived in full.
func frameDeadline(size int, grace time.Duration) time.Time {
	return time.Now().Add(grace + time.Duration(size)*time.Second/limits.MinRequestReadRate)
}

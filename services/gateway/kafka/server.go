// Package kafka is the gateway's Kafka wire-protocol listener. Every request
// and response is a franz-go kmsg type; each API lives in its own file
// (00_produce.go, 01_fetch.go, …) that registers the versions it serves, and
// the ApiVersions response is built from that registry.
//
// Connections: one goroutine reads a connection's requests and starts a
// goroutine per request; a second writes the responses in request order.
// Produce requests of one connection run in order per partition: a produce
// waits for the connection's earlier produces to its partitions (a Kafka
// broker runs all of a connection's requests one after another), so
// pipelined idempotent batches reach the partition leaders in sequence
// order; everything else runs concurrently. Different connections never
// wait on each other.
package kafka

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	"github.com/strata-io/strata/internal/acl"
	"github.com/strata-io/strata/internal/auth"
	"github.com/strata-io/strata/internal/limits"
	"github.com/strata-io/strata/internal/metadata"
	"github.com/strata-io/strata/internal/quota"
	"github.com/strata-io/strata/internal/rpc"
	"github.com/strata-io/strata/services/gateway/authn"
	"github.com/strata-io/strata/services/gateway/pids"
	"github.com/strata-io/strata/services/gateway/router"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Limits and defaults of the listener (internal/limits says why).
const (
	DefaultMaxRequestBytes    = limits.MaxRequestBytes
	maxNonProduceRequestBytes = limits.MaxNonProduceRequestBytes
	DefaultIdleTimeout        = limits.IdleTimeout
	maxInFlight               = limits.MaxInFlightRequests
	readChunk                 = limits.ReadChunk
	// writeTimeout bounds one response write to a slow client.
	writeTimeout = 30 * time.Second
)

// Config configures the listener.
type Config struct {
	// MaxRequestBytes is the largest request frame accepted.
	MaxRequestBytes int32
	// IdleTimeout closes connections without requests for this long.
	IdleTimeout time.Duration
	// AutoCreateTopics is auto.create.topics.enable: Metadata and Produce
	// for a missing topic create it (default false).
	AutoCreateTopics bool
	// DefaultPartitions is num.partitions for auto-created topics and
	// CreateTopics with -1 partitions.
	DefaultPartitions int32
	// DefaultReplicationFactor is default.replication.factor (0: the
	// smaller of 3 and the live storage nodes).
	DefaultReplicationFactor int32
	// MaxFetchSessions is max.incremental.fetch.session.cache.slots: how
	// many fetch sessions this listener keeps (0: none, every fetch is
	// sessionless).
	MaxFetchSessions int
	// QuotaWindowSamples and QuotaWindow are quota.window.num and
	// quota.window.size.seconds: client quota rates are measured over
	// that many samples of that length (0: Kafka's 11 of 1 s).
	QuotaWindowSamples int
	QuotaWindow        time.Duration
	// MaxConnections and MaxConnectionsPerIP are max.connections and
	// max.connections.per.ip; QueuedMaxRequestBytes is
	// queued.max.request.bytes; MaxInFlightBytes bounds one connection's
	// unanswered request bytes (0: the internal/limits defaults).
	MaxConnections        int
	MaxConnectionsPerIP   int
	QueuedMaxRequestBytes int64
	MaxInFlightBytes      int64
	// RequestReadGrace is limits.RequestReadGrace (0: that default).
	RequestReadGrace time.Duration
	// SASLMechanisms is sasl.enabled.mechanisms (nil: PLAIN, SCRAM-SHA-256
	// and SCRAM-SHA-512).
	SASLMechanisms []string
	// MaxReauth is connections.max.reauth.ms: how long a SASL session
	// lasts before the client must re-authenticate (0: forever).
	MaxReauth time.Duration
	// FetchReadAheadBytes bounds the bytes of the listener's fetch
	// read-aheads (read_ahead.go; 0: none).
	FetchReadAheadBytes int64
}

// Deps is what the listener needs from the gateway.
type Deps struct {
	Cache  *metadata.Cache
	Admin  adminv1.AdminServiceClient
	ACLs   adminv1.AclServiceClient
	Groups controllerv1.GroupCoordinatorServiceClient
	// NodeID is this gateway's id (its broker id).
	NodeID int32
	// Advertise is this gateway's advertised Kafka host:port.
	Advertise string
	ClusterID string
	Log       *slog.Logger
	// Storage holds the connections to storage nodes; the caller owns and
	// closes it.
	Storage *rpc.Pool
	// Router routes partition work to storage leaders; nil builds one over
	// Cache and Storage (without metrics).
	Router *router.Router
	// PIDs allocates idempotent producer ids; nil builds one over Groups.
	PIDs *pids.Allocator
	// Authorizer checks every request against the ACLs (authz.go); nil or
	// disabled allows everything.
	Authorizer *acl.Authorizer
	// Principal names each connection's principal before SASL (nil:
	// User:ANONYMOUS, or the verified client certificate's User:<CN>).
	Principal PrincipalBuilder
	// UserAdmin manages SCRAM users (DescribeUserScramCredentials and
	// AlterUserScramCredentials); nil answers UNSUPPORTED_VERSION.
	UserAdmin adminv1.UserServiceClient
	// Users checks SASL credentials (nil: every SASL authentication fails).
	Users *authn.Store
	// Listeners are served besides ln (which is DefaultListener at
	// Advertise, unless nil).
	Listeners []Listener
}

// Server is a running Kafka listener.
type Server struct {
	cfg Config
	d   Deps
	log *slog.Logger
	// listeners are the Kafka listeners; the first is the default one
	// (Metadata outside a connection answers with its addresses).
	listeners []*Listener
	router    *router.Router
	pids      *pids.Allocator
	// sessions are the incremental fetch sessions (KIP-227).
	sessions *fetchSessionCache
	// readAheads is the budget of the connections' fetch read-aheads.
	readAheads readAheads
	// quotas measures clients against their quotas (nil without a cache).
	quotas    *quota.Manager
	throttles [len(throttleKeys)]throttleStats
	// limiter caps connections; queued is queued.max.request.bytes.
	limiter *connLimiter
	queued  *byteBudget

	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	conns  map[*conn]struct{}
	wg     sync.WaitGroup
}

// NewServer returns a server for ln; call Serve to accept connections.
func NewServer(ln net.Listener, cfg Config, d Deps) *Server {
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.DefaultPartitions <= 0 {
		cfg.DefaultPartitions = 1
	}
	cfg.applyLimitDefaults()
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Storage == nil {
		d.Storage = &rpc.Pool{}
	}
	if d.Router == nil {
		d.Router = router.New(d.Cache, router.Pool{Conns: d.Storage}, nil)
	}
	if cfg.SASLMechanisms == nil {
		cfg.SASLMechanisms = DefaultSASLMechanisms
	}
	s := &Server{cfg: cfg, d: d, log: d.Log.With("listener", "kafka"), router: d.Router,
		conns: map[*conn]struct{}{}, sessions: newFetchSessionCache(cfg.MaxFetchSessions),
		limiter: newConnLimiter(cfg.MaxConnections, cfg.MaxConnectionsPerIP), queued: newByteBudget(cfg.QueuedMaxRequestBytes)}
	if ln != nil {
		s.listeners = append(s.listeners, &Listener{Name: DefaultListener, Protocol: Plaintext, Ln: ln, Advertise: d.Advertise})
	}
	for i := range d.Listeners {
		s.listeners = append(s.listeners, &d.Listeners[i])
	}
	if d.PIDs == nil {
		d.PIDs = pids.New(d.Groups)
	}
	s.pids = d.PIDs
	if d.Cache != nil {
		s.quotas = quota.NewManager(cfg.QuotaWindowSamples, cfg.QuotaWindow, d.Cache.ClientQuotas, d.Cache.ClientQuotaGen)
	}
	s.readAheads.budget = newByteBudget(cfg.FetchReadAheadBytes)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Serve accepts connections until Shutdown.
func (s *Server) Serve() {
	var wg sync.WaitGroup
	for _, l := range s.listeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serve(l)
		}()
	}
	wg.Wait()
}

// ConnCount is the number of open Kafka connections.
func (s *Server) ConnCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *Server) serve(l *Listener) {
	for {
		nc, err := l.accept()
		if err != nil {
			if s.ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				s.log.Warn("accept failed", "err", err)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return
		}
		release, ok := s.limiter.admit(nc.RemoteAddr())
		if !ok {
			s.log.Debug("kafka connection over the connection caps closed", "remote", nc.RemoteAddr().String())
			nc.Close()
			continue
		}
		c := newConn(s, l, nc)
		s.mu.Lock()
		if s.ctx.Err() != nil {
			s.mu.Unlock()
			release()
			nc.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer release()
			c.serve()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// Shutdown stops accepting, stops reading new requests, lets requests in
// flight answer for up to grace, then closes every connection.
func (s *Server) Shutdown(grace time.Duration) {
	s.mu.Lock()
	s.cancel()
	for _, l := range s.listeners {
		l.Ln.Close()
	}
	for c := range s.conns {
		c.drain()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		s.mu.Lock()
		for c := range s.conns {
			c.cancel()
			c.nc.Close()
		}
		s.mu.Unlock()
		<-done
	}
}

// conn is one client connection.
type conn struct {
	s        *Server
	l        *Listener
	nc       net.Conn
	accepted time.Time
	auth     authState
	// host is the client's IP address, what host ACLs match.
	host     string
	ctx      context.Context
	cancel   context.CancelFunc
	queue    chan *pending
	draining chan struct{}
	once     sync.Once
	// inflight bounds the request bytes read and not yet answered.
	inflight *byteBudget
	// produces orders the connection's produces per partition.
	produces produceOrder
	// mutedUntil is when a quota throttle ends: until then no request of
	// the connection is read or run.
	muteMu     sync.Mutex
	mutedUntil time.Time
	// readAhead is the fetch read ahead for the connection's consumer.
	readAhead atomic.Pointer[readAhead]
}

// pending is one request awaiting its framed response (nil: no response).
type pending struct {
	done chan net.Buffers
}

func newConn(s *Server, l *Listener, nc net.Conn) *conn {
	c := &conn{s: s, l: l, nc: nc, accepted: time.Now(), auth: authState{principal: auth.Anonymous},
		queue: make(chan *pending, maxInFlight), draining: make(chan struct{}), inflight: newByteBudget(s.cfg.MaxInFlightBytes)}
	c.ctx, c.cancel = context.WithCancel(context.Background()) // cancelled when the connection ends
	c.ctx = context.WithValue(c.ctx, connKey{}, c)
	if host, _, err := net.SplitHostPort(nc.RemoteAddr().String()); err == nil {
		c.host = host
	}
	if s.d.Principal != nil {
		c.auth.principal = s.d.Principal(nc)
	}
	return c
}

// drain stops reading: the read loop ends at its next read, and the
// responses in flight are still written.
func (c *conn) drain() {
	c.once.Do(func() { close(c.draining) })
	_ = c.nc.SetReadDeadline(time.Now())
}

func (c *conn) serve() {
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	err := c.handshake()
	if err == nil {
		err = c.readLoop()
	}
	close(c.queue)
	<-writerDone
	c.s.closeReadAhead(c)
	c.cancel()
	c.nc.Close()
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		c.s.log.Debug("kafka connection closed", "remote", c.nc.RemoteAddr().String(), "reason", err)
	}
}

// errClose is a reason to close a connection, logged at info.
type errClose struct{ msg string }

func (e *errClose) Error() string { return e.msg }

func closeReason(format string, args ...any) error { return &errClose{fmt.Sprintf(format, args...)} }

func (c *conn) readLoop() error {
	var sizeBuf [4]byte
	var key [2]byte
	for {
		select {
		case <-c.draining:
			return nil
		default:
		}
		if !c.waitMuted() {
			return nil
		}
		_ = c.nc.SetReadDeadline(c.readDeadline(time.Now()))
		if _, err := io.ReadFull(c.nc, sizeBuf[:]); err != nil {
			return c.readErr(err)
		}
		size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
		if c.rawSASL() { // a SaslHandshake v0 exchange: the frame is a bare token
			if err := c.serveRawToken(size); err != nil {
				return c.logClose(err)
			}
			continue
		}
		if size < 8 || size > c.s.cfg.MaxRequestBytes {
			return c.logClose(closeReason("request size %d is outside 8..%d bytes", size, c.s.cfg.MaxRequestBytes))
		}
		preAuth := c.needsAuth()
		if preAuth && size > maxSASLReceiveBytes {
			return c.logClose(closeReason("request of %d bytes before SASL authentication, over the %d-byte limit", size, maxSASLReceiveBytes))
		}
		// Every request other than Produce must also be small: the key is
		// read and checked before the frame takes any budget.
		if _, err := io.ReadFull(c.nc, key[:]); err != nil {
			return c.readErr(err)
		}
		if k := int16(binary.BigEndian.Uint16(key[:])); k != 0 && size > maxNonProduceRequestBytes {
			return c.logClose(closeReason("%s request of %d bytes is over the %d-byte limit", apiName(k), size, maxNonProduceRequestBytes))
		}
		res := c.reserve(int(size)) // waits for room in the byte budgets
		if res == nil {
			return nil
		}
		req, err := c.readRequest(int(size), key[:])
		if req == nil {
			res.release()
			return err
		}
		if handled, err := c.authGate(req, preAuth); handled || err != nil {
			res.release()
			if err != nil {
				return c.logClose(err)
			}
			continue
		}
		if !c.waitMuted() { // read while a throttle began: it waits too
			res.release()
			return nil
		}
		p := &pending{done: make(chan net.Buffers, 1)}
		c.queue <- p
		if pr, ok := req.body.(*kmsg.ProduceRequest); ok {
			wait, done := c.produces.enter(pr)
			go func() {
				defer done()
				for _, prev := range wait {
					select {
					case <-prev:
					case <-c.ctx.Done():
						res.release()
						p.done <- nil
						return
					}
				}
				out := c.handle(req)
				res.release()
				p.done <- out
			}()
			continue
		}
		go func() {
			out := c.handle(req)
			res.release()
			p.done <- out
		}()
	}
}

// readRequest reads the rest of a frame of size bytes that starts with
// head and decodes it.
func (c *conn) readRequest(size int, head []byte) (*request, error) {
	frame, err := readFrame(c.nc, size, head, c.s.cfg.IdleTimeout, c.s.cfg.RequestReadGrace)
	if err != nil {
		return nil, c.readErr(err)
	}
	req, err := parseRequest(frame)
	if err != nil {
		return nil, c.logClose(err)
	}
	return req, nil
}

// queueNow answers req in the read loop: with resp, or by running it.
func (c *conn) queueNow(req *request, resp kmsg.Response) {
	p := &pending{done: make(chan net.Buffers, 1)}
	c.queue <- p
	if resp == nil {
		p.done <- c.handle(req)
		return
	}
	p.done <- frameResponse(req, resp)
}

func (c *conn) readErr(err error) error {
	select {
	case <-c.draining:
		return nil
	default:
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		if why := c.authDeadlineReason(time.Now()); why != "" {
			return c.logClose(closeReason("%s", why))
		}
		return c.logClose(closeReason("idle for %v", c.s.cfg.IdleTimeout))
	}
	return err
}

func (c *conn) logClose(err error) error {
	c.s.log.Info("closing kafka connection", "remote", c.nc.RemoteAddr().String(), "reason", err.Error())
	return err
}

// readFrame reads a frame of size bytes whose first bytes, head, are
// already read, allocating as the bytes arrive. The whole frame must
// arrive by frameDeadline (a stalled frame holds its share of
// queued.max.request.bytes), each chunk within idle.
func readFrame(r net.Conn, size int, head []byte, idle, grace time.Duration) ([]byte, error) {
	until := frameDeadline(size, grace)
	buf := append(make([]byte, 0, min(size, readChunk)), head...)
	for len(buf) < size {
		n := min(size-len(buf), readChunk)
		if cap(buf)-len(buf) < n {
			grown := make([]byte, len(buf), min(size, max(2*cap(buf), len(buf)+n)))
			copy(grown, buf)
			buf = grown
		}
		deadline := time.Now().Add(idle)
		if until.Before(deadline) {
			deadline = until
		}
		_ = r.SetReadDeadline(deadline)
		if _, err := io.ReadFull(r, buf[len(buf):len(buf)+n]); err != nil {
			return nil, err
		}
		buf = buf[:len(buf)+n]
	}
	return buf, nil
}

func (c *conn) writeLoop() {
	failed := false
	for p := range c.queue {
		var out net.Buffers
		select {
		case out = <-p.done:
		case <-c.ctx.Done():
			failed = true
		}
		if failed || out == nil {
			continue
		}
		_ = c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := c.write(out); err != nil {
			failed = true
			c.cancel()
			c.nc.Close()
		}
	}
}

// handle runs one request and returns the framed response, or nil for no
// response (acks=0, or a request that closes the connection).
func (c *conn) handle(req *request) (out net.Buffers) {
	defer func() {
		if r := recover(); r != nil {
			c.s.log.Error("kafka handler panicked", "api", apiName(req.key), "version", req.version, "panic", r)
			out = nil
			c.cancel()
			c.nc.Close()
		}
	}()
	// A request read before a throttle began (pipelined, or a produce
	// queued behind the previous one) waits it out too: nothing of a
	// muted connection runs.
	if !c.waitMuted() {
		return nil
	}
	resp, err := c.s.dispatch(auth.NewContext(c.ctx, c.principal()), req)
	if err != nil {
		c.s.log.Info("closing kafka connection", "remote", c.nc.RemoteAddr().String(), "api", apiName(req.key), "reason", err.Error())
		c.cancel()
		c.nc.Close()
		return nil
	}
	c.applyThrottle(c.ctx, resp, c.s.recordQuotas(req, resp))
	if resp == nil {
		return nil
	}
	return frameResponse(req, resp)
}

// write writes a framed response: in one writev on a TCP connection, and
// joined into one buffer on any other (a TLS connection would make a
// record and a syscall of each piece).
func (c *conn) write(out net.Buffers) (int64, error) {
	if _, tcp := c.nc.(*net.TCPConn); !tcp && len(out) > 1 {
		out = net.Buffers{bytes.Join(out, nil)}
	}
	return out.WriteTo(c.nc)
}

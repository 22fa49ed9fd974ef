package kafka

import (
	"encoding/binary"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/limits"
)

// apiVersions sends an ApiVersions v0 request on c and waits up to within
// for its response; false if none came.
func apiVersions(t *testing.T, c net.Conn, within time.Duration) bool {
	t.Helper()
	req := kmsg.NewPtrApiVersionsRequest()
	f := frame(req, 1)
	if _, err := c.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(f))), f...)); err != nil {
		return false
	}
	_ = c.SetReadDeadline(time.Now().Add(within))
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return false
	}
	_, err := io.ReadFull(c, make([]byte, binary.BigEndian.Uint32(size[:])))
	return err == nil
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// openIdle opens n connections and proves each is served.
func openIdle(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = dial(t, addr)
		if !apiVersions(t, conns[i], 5*time.Second) {
			t.Fatalf("connection %d not served", i+1)
		}
	}
	return conns
}

// Past max.connections.per.ip (and max.connections) a connection is closed
// at accept and counted; a slot freed is taken again.
func TestConnectionCaps(t *testing.T) {
	t.Run("per ip", func(t *testing.T) {
		s, addr := startListener(t, Config{MaxConnectionsPerIP: 50})
		conns := openIdle(t, addr, 50)
		expectClosed(t, dial(t, addr), 5*time.Second)
		if rejected, _ := s.LimitStats(); rejected != 1 {
			t.Fatalf("rejected %d connections, want 1", rejected)
		}
		conns[0].Close()
		deadline := time.Now().Add(10 * time.Second)
		for !apiVersions(t, dial(t, addr), time.Second) { // the slot is released when the server sees the close
			if time.Now().After(deadline) {
				t.Fatal("the freed slot was not reused")
			}
		}
	})
	t.Run("total", func(t *testing.T) {
		s, addr := startListener(t, Config{MaxConnections: 5})
		openIdle(t, addr, 5)
		expectClosed(t, dial(t, addr), 5*time.Second)
		if rejected, _ := s.LimitStats(); rejected != 1 {
			t.Fatalf("rejected %d connections, want 1", rejected)
		}
	})
	// The defaults cap one IP well below 10,000 idle connections.
	t.Run("default", func(t *testing.T) {
		s, addr := startListener(t, Config{})
		if s.cfg.MaxConnectionsPerIP != limits.MaxConnectionsPerIP || limits.MaxConnectionsPerIP > 1000 || limits.MaxConnections > 10_000 {
			t.Fatalf("defaults %d per IP, %d in all", s.cfg.MaxConnectionsPerIP, s.cfg.MaxConnections)
		}
		var conns []net.Conn
		for range limits.MaxConnectionsPerIP {
			conns = append(conns, dial(t, addr))
		}
		if !apiVersions(t, conns[len(conns)-1], 10*time.Second) {
			t.Fatal("the last connection under the cap was not served")
		}
		for range 10 {
			expectClosed(t, dial(t, addr), 10*time.Second)
		}
		if rejected, _ := s.LimitStats(); rejected != 10 {
			t.Fatalf("rejected %d connections, want 10", rejected)
		}
	})
}

// sendHeader sends a frame's size and the first few bytes of its body,
// then nothing more.
func sendHeader(t *testing.T, c net.Conn, size int) {
	t.Helper()
	head := binary.BigEndian.AppendUint32(nil, uint32(size))
	head = append(head, 0, 0, 0, 3, 0, 0, 0, 1) // Produce v3
	if _, err := c.Write(head); err != nil {
		t.Fatal(err)
	}
}

// A client that sends a 100 MiB frame size and stalls holds no more than
// one read chunk of memory; the ones the byte budget has no room for hold
// nothing (their reading is paused).
func TestSlowLoris(t *testing.T) {
	s, addr := startListener(t, Config{})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const n = 20
	for range n {
		sendHeader(t, dial(t, addr), limits.MaxRequestBytes)
	}
	// 5 frames fit in queued.max.request.bytes, the other 15 wait.
	fit := int(limits.QueuedMaxRequestBytes / limits.MaxRequestBytes)
	deadline := time.Now().Add(10 * time.Second)
	for _, paused := s.LimitStats(); paused < int64(n-fit); _, paused = s.LimitStats() {
		if time.Now().After(deadline) {
			t.Fatalf("%d reads paused, want %d", paused, n-fit)
		}
		time.Sleep(10 * time.Millisecond) // polling
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > int64(fit*limits.ReadChunk+8<<20) {
		t.Fatalf("%d stalled frames hold %d bytes", n, grown)
	}
}

// A frame that does not arrive in time is dropped with its connection, and
// its share of the budget goes to the next request; until then requests
// of other connections wait (reading pauses) instead of growing memory.
func TestQueuedBytesPause(t *testing.T) {
	s, addr := startListener(t, Config{MaxRequestBytes: 256 << 10, QueuedMaxRequestBytes: 256 << 10, RequestReadGrace: 500 * time.Millisecond})
	loris := dial(t, addr)
	sendHeader(t, loris, 256<<10) // holds the whole budget
	deadline := time.Now().Add(5 * time.Second)
	for s.queuedFree() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the stalled frame never took the budget")
		}
		time.Sleep(5 * time.Millisecond) // polling
	}
	honest := dial(t, addr)
	start := time.Now()
	if !apiVersions(t, honest, 10*time.Second) {
		t.Fatal("no response after the stalled frame's deadline")
	}
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Fatalf("answered after %v, while the budget was held", waited)
	}
	if _, paused := s.LimitStats(); paused != 1 {
		t.Fatalf("%d reads paused, want 1", paused)
	}
	expectClosed(t, loris, 5*time.Second)
}

func (s *Server) queuedFree() int64 {
	s.queued.mu.Lock()
	defer s.queued.mu.Unlock()
	return s.queued.free
}

// A connection stops reading while its requests in flight hold
// MaxInFlightBytes, and reads again as they are answered.
func TestInFlightBytesPauseReading(t *testing.T) {
	release := make(chan struct{})
	s := benchServer(t, "t", 1, &stubStorage{produce: func(*storagev1.ProduceRequest) { <-release }})
	fr := produceFrame("t", 1, 400) // ~40 KiB
	s.cfg.MaxInFlightBytes = int64(len(fr)) + 1
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.listeners = []*Listener{{Name: DefaultListener, Protocol: Plaintext, Ln: ln, Advertise: ln.Addr().String()}}
	go s.Serve()
	t.Cleanup(func() { s.Shutdown(time.Second) })
	c := dial(t, ln.Addr().String())
	for range 3 {
		if _, err := c.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(fr))), fr...)); err != nil {
			t.Fatal(err)
		}
	}
	// The first produce waits in storage; the second does not fit beside it.
	deadline := time.Now().Add(10 * time.Second)
	for s.inflightWaits() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the connection kept reading past its in-flight bytes")
		}
		time.Sleep(5 * time.Millisecond) // polling
	}
	close(release)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i := range 3 {
		var size [4]byte
		if _, err := io.ReadFull(c, size[:]); err != nil {
			t.Fatalf("response %d: %v", i+1, err)
		}
		if _, err := io.ReadFull(c, make([]byte, binary.BigEndian.Uint32(size[:]))); err != nil {
			t.Fatalf("response %d: %v", i+1, err)
		}
	}
}

func (s *Server) inflightWaits() (n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		n += c.inflight.waits.Load()
	}
	return n
}

// A request other than Produce that claims more than 8 MiB is refused on
// its key, before its bytes arrive or take any budget.
func TestLargeNonProduceRefusedOnItsKey(t *testing.T) {
	s, addr := startListener(t, Config{})
	c := dial(t, addr)
	head := binary.BigEndian.AppendUint32(nil, 50<<20)
	head = append(head, 0, 3) // Metadata
	if _, err := c.Write(head); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, c, 5*time.Second)
	if free := s.queuedFree(); free != limits.QueuedMaxRequestBytes {
		t.Fatalf("%d bytes of the budget free, want all %d", free, limits.QueuedMaxRequestBytes)
	}
}

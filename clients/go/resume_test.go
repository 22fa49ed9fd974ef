package strata_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	strata "github.com/strata-io/strata/clients/go"
	"github.com/strata-io/strata/clients/go/internal/testcluster"
)

// cutter is a TCP proxy to a gateway that can cut every connection through
// it at once, as a network drop does, while new connections still pass;
// before a cut it swallows what the gateway sends for a while, so that the
// requests written meanwhile are never acknowledged.
type cutter struct {
	ln      net.Listener
	target  string
	mu      sync.Mutex
	conns   []net.Conn
	cuts    int
	mute    bool
	dropped int
}

func newCutter(t *testing.T, target string) *cutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{ln: ln, target: target}
	t.Cleanup(func() {
		ln.Close()
		c.cut(0)
	})
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			c.mu.Lock()
			c.conns = append(c.conns, in, out)
			c.mu.Unlock()
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			go func() { c.back(in, out); in.Close() }()
		}
	}()
	return c
}

// back copies the gateway's bytes to the client, unless muted.
func (c *cutter) back(in, out net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := out.Read(buf)
		if err != nil {
			return
		}
		c.mu.Lock()
		mute := c.mute
		if mute {
			c.dropped += n
		}
		c.mu.Unlock()
		if !mute {
			if _, err := in.Write(buf[:n]); err != nil {
				return
			}
		}
	}
}

func (c *cutter) addr() string { return c.ln.Addr().String() }

// cut swallows the gateway's answers for d, then cuts every connection.
func (c *cutter) cut(d time.Duration) {
	c.mu.Lock()
	c.mute = true
	c.mu.Unlock()
	time.Sleep(d) // the fault's length, not synchronisation
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, nc := range c.conns {
		nc.Close()
	}
	c.conns, c.cuts, c.mute = nil, c.cuts+1, false
}

// TestProducerResumesAcrossCutConnections cuts the producer's connection
// again and again while it streams with requests in flight. Each time it
// resumes its idempotent producer on a new session and resends what was
// not acknowledged: every record is in the log exactly once, at the offset
// its ack gave.
func TestProducerResumesAcrossCutConnections(t *testing.T) {
	cut := newCutter(t, needDev(t))
	c := newClient(t, cut.addr())
	topic := newTopic(t, c, 3, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := c.NewProducer(strata.Linger(time.Millisecond), strata.MaxBatchBytes(16<<10), strata.MaxBufferedRecords(1000))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })

	const n = 30000
	var mu sync.Mutex
	acked := map[string]string{}
	var failed []error
	done := 0
	produced := make(chan error, 1)
	go func() {
		for i := range n { // blocks on the 1,000-record buffer: a steady stream
			r := &strata.Record{Topic: topic, Key: []byte(strconv.Itoa(i % 97)), Value: []byte(strconv.Itoa(i))}
			p.Produce(ctx, r, func(r *strata.Record, err error) {
				mu.Lock()
				defer mu.Unlock()
				done++
				if err != nil {
					failed = append(failed, err)
					return
				}
				acked[string(r.Value)] = fmt.Sprintf("%d/%d", r.Partition, r.Offset)
			})
		}
		produced <- p.Flush(ctx)
	}()
	for k := 1; k <= 8; k++ {
		testcluster.WaitFor(t, 60*time.Second, func() error {
			mu.Lock()
			defer mu.Unlock()
			if done < k*n/10 {
				return fmt.Errorf("%d of %d done", done, k*n/10)
			}
			return nil
		})
		cut.cut(20 * time.Millisecond) // the requests of those 20 ms are written, not acknowledged
	}
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	unknown := checkExactlyOnce(ctx, t, c, topic, 3, n, acked, failed)
	t.Logf("%d records through %d cut connections (%d bytes of answers lost), each once in the log; %d acknowledged without an offset",
		n, cut.cuts, cut.dropped, unknown)
}

// Package testutil has the helpers Strata's tests share: polling with a
// deadline instead of sleeping, and free loopback ports.
package testutil

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// WaitFor polls f until it returns nil, failing the test with f's last
// error when timeout passes.
func WaitFor(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	if err := Poll(timeout, f); err != nil {
		t.Fatal(err)
	}
}

// Poll polls f until it returns nil, or returns f's last error when
// timeout passes (for callers that go on after a failed wait).
func Poll(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	delay := 10 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("condition not met within %s: %w", timeout, err)
		}
		time.Sleep(delay)
		delay = min(2*delay, 250*time.Millisecond)
	}
}

var (
	portsMu sync.Mutex
	given   = map[int]bool{}
)

// FreeAddr returns a loopback address whose port was free a moment ago. It
// picks ports below Linux's ephemeral range (32768+), so outgoing
// connections of the processes under test cannot take them before the
// listener binds, and never hands out one port twice in a process.
func FreeAddr(t testing.TB) string {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 1000 {
		port := 15000 + rand.IntN(17000)
		if given[port] {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		ln.Close()
		given[port] = true
		return ln.Addr().String()
	}
	t.Fatal("no free port found")
	return ""
}

package controller

import (
	"strings"
	"testing"
	"time"
)

// An embedded etcd that fails ends the controller role (launch then stops
// the process) instead of leaving it serving without its store.
func TestEtcdFailureIsFatal(t *testing.T) {
	c, logs := startTestController(t)
	select {
	case err := <-c.Fatal():
		t.Fatalf("fatal before any failure: %v", err)
	default:
	}
	// A peer listener that breaks is an etcd serving error (embed.Etcd.Err).
	if err := c.etcd.Peers[0].Listener.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-c.Fatal():
		if !strings.Contains(err.Error(), "embedded etcd") {
			t.Errorf("fatal error %q does not name etcd", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no fatal error 10s after etcd's peer listener broke; logs:\n%s", logs.String())
	}
}

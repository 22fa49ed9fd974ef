package strata_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	strata "github.com/strata-io/strata/clients/go"
	"github.com/strata-io/strata/clients/go/internal/testcluster"
)

// devAddr is the gRPC address of the `strata dev` cluster the package's
// tests share (each test uses its own topics and groups); empty with -short.
var devAddr string

func TestMain(m *testing.M) {
	code := run(m)
	testcluster.Cleanup()
	os.Exit(code)
}

func run(m *testing.M) int {
	flag.Parse()
	if os.Getenv("STRATA_CLIENT_NO_CLUSTER") != "" {
		// Without a cluster the examples cannot run; the tests that need
		// one skip themselves.
		if skip := flag.Lookup("test.skip"); skip != nil && skip.Value.String() == "" {
			_ = skip.Value.Set("^Example")
		}
	} else {
		addr, stop, err := testcluster.SharedDev()
		if err != nil {
			fmt.Fprintln(os.Stderr, "starting strata dev:", err)
			return 1
		}
		defer stop()
		devAddr = addr
	}
	return m.Run()
}

// needDev skips a test when no shared cluster runs.
func needDev(t *testing.T) string {
	t.Helper()
	if devAddr == "" {
		t.Skip("STRATA_CLIENT_NO_CLUSTER is set: no cluster")
	}
	return devAddr
}

var topicSeq atomic.Int64

// newTopic creates a topic with a fresh name on the client's cluster.
func newTopic(t *testing.T, c *strata.Client, partitions, rf int32) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d", sanitize(t.Name()), topicSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Admin().CreateTopic(ctx, name, partitions, rf, nil); err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	return name
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '-'
		}
	}
	if len(b) > 200 {
		b = b[:200]
	}
	return string(b)
}

// newClient connects to addr, closed at cleanup.
func newClient(t testing.TB, addr string, opts ...strata.Opt) *strata.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := strata.NewClient(ctx, addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// needMulti skips a test that starts its own multi-process cluster under
// -short or STRATA_CLIENT_NO_CLUSTER.
func needMulti(t *testing.T) {
	t.Helper()
	if testing.Short() || os.Getenv("STRATA_CLIENT_NO_CLUSTER") != "" {
		t.Skip("starts a multi-process cluster")
	}
}

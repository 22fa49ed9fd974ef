package rpc

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

func serveLimited(t *testing.T, opts ...ServerOption) healthpb.HealthClient {
	t.Helper()
	s := NewServer(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), opts...)
	s.SetReady(true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { s.Stop(time.Second) })
	cc, err := Dial(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return healthpb.NewHealthClient(cc)
}

// A message over the server's receive limit is refused before a handler
// runs.
func TestServerMaxRecvBytes(t *testing.T) {
	hc := serveLimited(t, WithMaxRecvBytes(1<<10))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	_, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: strings.Repeat("x", 2<<10)})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("got %v, want RESOURCE_EXHAUSTED", err)
	}
}

// Streams past MaxConcurrentStreams wait for a free one instead of being
// opened.
func TestServerMaxConcurrentStreams(t *testing.T) {
	hc := serveLimited(t, WithMaxConcurrentStreams(2))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var cancels []context.CancelFunc
	for range 2 {
		sctx, c := context.WithCancel(ctx)
		cancels = append(cancels, c)
		w, err := hc.Watch(sctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	third := make(chan error, 1)
	go func() {
		w, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{})
		if err == nil {
			_, err = w.Recv()
		}
		third <- err
	}()
	select {
	case err := <-third:
		t.Fatalf("a third stream opened: %v", err)
	case <-time.After(300 * time.Millisecond): // bounded wait for something that must not happen
	}
	cancels[0]()
	select {
	case err := <-third:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("the third stream never opened after one closed")
	}
	cancels[1]()
}

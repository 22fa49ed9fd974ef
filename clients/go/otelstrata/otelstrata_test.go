package otelstrata_test

import (
	"context"
	"testing"

	strata "github.com/strata-io/strata/clients/go"
	"github.com/strata-io/strata/clients/go/otelstrata"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

func spanContext(t *testing.T) trace.SpanContext {
	t.Helper()
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled})
}

func TestInjectExtractRoundTrip(t *testing.T) {
	prop := otelstrata.WithPropagator(propagation.TraceContext{})
	sc := spanContext(t)
	ctx := trace.ContextWithSpanContext(context.Background(), sc)
	r := &strata.Record{Headers: []strata.Header{{Key: "app", Value: []byte("x")}, {Key: "traceparent", Value: []byte("stale")}}}
	otelstrata.Inject(ctx, r, prop)
	carrier := otelstrata.HeaderCarrier{R: r}
	if got := carrier.Get("traceparent"); got != "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" {
		t.Fatalf("traceparent %q", got)
	}
	if len(r.Headers) != 2 || r.Headers[0].Key != "app" {
		t.Fatalf("headers %+v: the app's header must stay and the stale traceparent go", r.Headers)
	}
	got := trace.SpanContextFromContext(otelstrata.Extract(context.Background(), r, prop))
	if got.TraceID() != sc.TraceID() || got.SpanID() != sc.SpanID() || !got.IsRemote() {
		t.Fatalf("extracted %+v", got)
	}
}

func TestHookInjectsOnProduce(t *testing.T) {
	h, ok := otelstrata.Hook(otelstrata.WithPropagator(propagation.TraceContext{})).(strata.HookProduceRecord)
	if !ok {
		t.Fatal("Hook is not a HookProduceRecord")
	}
	r := &strata.Record{}
	h.OnProduceRecord(trace.ContextWithSpanContext(context.Background(), spanContext(t)), r)
	if len(r.Headers) != 1 || r.Headers[0].Key != "traceparent" {
		t.Fatalf("headers %+v", r.Headers)
	}
	// No span in the context: nothing to inject.
	r = &strata.Record{}
	h.OnProduceRecord(context.Background(), r)
	if len(r.Headers) != 0 {
		t.Fatalf("headers %+v without a span", r.Headers)
	}
}

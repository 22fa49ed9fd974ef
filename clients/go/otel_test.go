package strata_test

import (
	"context"
	"testing"
	"time"

	strata "github.com/strata-io/strata/clients/go"
	"github.com/strata-io/strata/clients/go/otelstrata"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// TestTraceContextThroughRecordHeaders produces with otelstrata's hook and
// reads the trace back from the stored record.
func TestTraceContextThroughRecordHeaders(t *testing.T) {
	prop := otelstrata.WithPropagator(propagation.TraceContext{})
	c := newClient(t, needDev(t), strata.WithHooks(otelstrata.Hook(prop)))
	topic := newTopic(t, c, 1, 1)
	p, err := c.NewProducer()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	tid, _ := trace.TraceIDFromHex("0af7651916cd43dd8448eb211c80319c")
	sid, _ := trace.SpanIDFromHex("b7ad6b7169203331")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctx = trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	if err := p.ProduceSync(ctx, &strata.Record{Topic: topic, Value: []byte("traced")}); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, c, topic, 1, 1)["0/0"]
	sc := trace.SpanContextFromContext(otelstrata.Extract(context.Background(), got, prop))
	if sc.TraceID() != tid || sc.SpanID() != sid {
		t.Fatalf("read trace %v span %v from headers %+v", sc.TraceID(), sc.SpanID(), got.Headers)
	}
}

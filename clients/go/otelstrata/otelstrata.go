// Package otelstrata propagates OpenTelemetry trace context through Strata
// record headers, as OpenTelemetry's messaging conventions do for Kafka: the
// producer side injects the context of each Produce call into the record's
// headers (W3C traceparent and tracestate with the default propagator), the
// consumer side extracts it to continue the trace.
//
//	client, _ := strata.NewClient(ctx, addr, strata.WithHooks(otelstrata.Hook()))
//	...
//	for _, r := range fetches.Records() {
//		ctx := otelstrata.Extract(context.Background(), r)
//		ctx, span := tracer.Start(ctx, "process", trace.WithSpanKind(trace.SpanKindConsumer))
//		...
//	}
//
// It creates no spans itself and needs no SDK: with no propagator set up,
// nothing is injected.
package otelstrata

import (
	"context"

	strata "github.com/strata-io/strata/clients/go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
)

// Option configures Hook, Inject and Extract.
type Option func(*config)

type config struct {
	propagator propagation.TextMapPropagator
}

// WithPropagator uses p instead of the global propagator
// (otel.GetTextMapPropagator()).
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(c *config) { c.propagator = p }
}

func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		o(&c)
	}
	if c.propagator == nil {
		c.propagator = otel.GetTextMapPropagator()
	}
	return c
}

// Hook returns a hook for strata.WithHooks that injects the trace context
// of every Produce call's ctx into its record's headers.
func Hook(opts ...Option) strata.Hook { return hook{newConfig(opts)} }

type hook struct{ c config }

// OnProduceRecord implements strata.HookProduceRecord.
func (h hook) OnProduceRecord(ctx context.Context, r *strata.Record) {
	h.c.propagator.Inject(ctx, HeaderCarrier{r})
}

// Inject writes ctx's trace context into r's headers, replacing any of the
// same keys.
func Inject(ctx context.Context, r *strata.Record, opts ...Option) {
	newConfig(opts).propagator.Inject(ctx, HeaderCarrier{r})
}

// Extract returns ctx with the trace context found in r's headers (ctx
// unchanged when there is none).
func Extract(ctx context.Context, r *strata.Record, opts ...Option) context.Context {
	return newConfig(opts).propagator.Extract(ctx, HeaderCarrier{r})
}

// HeaderCarrier adapts a record's headers to a propagation.TextMapCarrier.
type HeaderCarrier struct{ R *strata.Record }

var _ propagation.TextMapCarrier = HeaderCarrier{}

// Get returns the value of the first header named key.
func (c HeaderCarrier) Get(key string) string {
	for _, h := range c.R.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// Set replaces the headers named key with one holding value.
func (c HeaderCarrier) Set(key, value string) {
	kept := c.R.Headers[:0]
	for _, h := range c.R.Headers {
		if h.Key != key {
			kept = append(kept, h)
		}
	}
	c.R.Headers = append(kept, strata.Header{Key: key, Value: []byte(value)})
}

// Keys returns the header keys.
func (c HeaderCarrier) Keys() []string {
	out := make([]string, 0, len(c.R.Headers))
	for _, h := range c.R.Headers {
		out = append(out, h.Key)
	}
	return out
}

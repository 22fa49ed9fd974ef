package strata

import (
	"context"
	"time"
)

// Hook is any value implementing one or more of the Hook... interfaces
// below; register hooks with [WithHooks]. A metrics library adapts them to
// its counters and histograms. Hooks are called synchronously from the
// client's goroutines: keep them quick and do not block.
type Hook any

// HookCall is called after every unary call (admin, Fetch, ListOffsets,
// group administration) and at the end of every stream.
type HookCall interface {
	// OnCall gets the full gRPC method name, how long the call took and
	// its error (nil on success).
	OnCall(method string, took time.Duration, err error)
}

// HookProduceAck is called for every ProduceStream request acknowledged.
type HookProduceAck interface {
	// OnProduceAck gets the topic, the request's records and record bytes,
	// the time from send to ack, and how many of its records failed.
	OnProduceAck(topic string, records, bytes int, took time.Duration, failed int)
}

// HookConsumeRecords is called for every batch of records a consumer or
// reader receives.
type HookConsumeRecords interface {
	// OnConsumeRecords gets the partition and the records' count and
	// bytes (keys, values and headers).
	OnConsumeRecords(topic string, partition int32, records, bytes int)
}

// HookReconnect is called when a producer session or consumer stream
// breaks and the client opens a new one.
type HookReconnect interface {
	// OnReconnect gets what broke ("produce orders", "consume group g") and
	// why.
	OnReconnect(what string, err error)
}

func (c *Client) eachHook(f func(Hook)) {
	for _, h := range c.cfg.hooks {
		f(h)
	}
}

// HookProduceRecord is called by Produce, TryProduce and ProduceSync for
// every record before it is checked and buffered, with the context of the
// call: it may change the record (add headers, say: the otelstrata package
// injects the trace context this way).
type HookProduceRecord interface {
	OnProduceRecord(ctx context.Context, r *Record)
}

package router

import (
	"context"
	"time"
)

// Ahead is a Fetch sent before anyone asks for it: a consumer's next
// fetch, read while it decodes the last one (the Kafka listener's
// read-ahead, a Consume stream's next round). Whoever asks next decides
// whether Items are what it wants.
type Ahead struct {
	Items  []*FetchItem
	cancel context.CancelFunc
	done   chan struct{}
}

// FetchAhead runs Fetch(ctx, wait, minBytes, maxBytes, items) in the
// background.
func (r *Router) FetchAhead(ctx context.Context, wait time.Duration, minBytes, maxBytes int32, items []*FetchItem) *Ahead {
	ctx, cancel := context.WithCancel(ctx)
	a := &Ahead{Items: items, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(a.done)
		r.Fetch(ctx, wait, minBytes, maxBytes, items)
	}()
	return a
}

// Done is closed once the fetch has ended and Items hold its answers.
func (a *Ahead) Done() <-chan struct{} { return a.done }

// Stop cuts the fetch short (a pending long poll, or one no longer wanted).
func (a *Ahead) Stop() { a.cancel() }

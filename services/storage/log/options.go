package log

import (
	"io"
	"log/slog"
	"time"
)

// Option adjusts how a Log runs (not what it stores; that is Config).
type Option func(*options)

type options struct {
	now      func() time.Time
	logger   *slog.Logger
	manualHW bool

	beforeDecode func() // tests: runs after a timestamp lookup copied a batch out
}

func defaultOptions() options {
	return options{now: time.Now, logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// WithClock replaces time.Now, for segment.ms, retention.ms and flush.ms.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithLogger sets where the log reports recovery actions.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithManualHighWatermark makes the high watermark move only through
// SetHighWatermark (replicated partitions). Without it the high watermark
// follows the log end offset.
func WithManualHighWatermark() Option { return func(o *options) { o.manualHW = true } }

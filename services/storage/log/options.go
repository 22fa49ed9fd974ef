package log

import (
	"io"
	"log/slog"
	"time"

	"github.com/strata-io/strata/internal/fsutil"
)

// Option adjusts how a Log runs (not what it stores; that is Config).
type Option func(*options)

type options struct {
	now      func() time.Time
	logger   *slog.Logger
	manualHW bool
	fs       fsutil.FS
	onFail   func(error)

	beforeDecode func() // tests: runs after a timestamp lookup copied a batch out
}

func defaultOptions() options {
	return options{now: time.Now, logger: slog.New(slog.NewTextHandler(io.Discard, nil)), fs: fsutil.OS}
}

// WithClock replaces time.Now, for segment.ms, retention.ms and flush.ms.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithLogger sets where the log reports recovery actions.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithManualHighWatermark makes the high watermark move only through
// SetHighWatermark (replicated partitions). Without it the high watermark
// follows the log end offset.
func WithManualHighWatermark() Option { return func(o *options) { o.manualHW = true } }

// WithFS replaces the real file system, for tests that inject faults (see
// package faultfs).
func WithFS(fs fsutil.FS) Option { return func(o *options) { o.fs = fs } }

// WithFailureHook sets a function called once, from its own goroutine (so
// outside the log's locks), when the log first fails with an I/O error and
// stops serving; the owner takes the replica offline. Err returns the same
// error.
func WithFailureHook(fn func(err error)) Option { return func(o *options) { o.onFail = fn } }

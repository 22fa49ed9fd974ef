package controller

import (
	"context"
	"log/slog"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// etcdLogCore sends the embedded etcd's zap logs to our slog logger, so
// etcd's lines share the process's format (text or JSON). While the member
// is closing it drops them: etcd reports its own listeners closing as
// errors, which a clean shutdown must not print.
type etcdLogCore struct {
	log     *slog.Logger
	level   zapcore.Level
	fields  []zapcore.Field
	closing *atomic.Bool
}

func newEtcdLogger(log *slog.Logger, level string, closing *atomic.Bool) *zap.Logger {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		lvl = zapcore.WarnLevel
	}
	return zap.New(&etcdLogCore{log: log.With("component", "etcd"), level: lvl, closing: closing})
}

func (c *etcdLogCore) Enabled(l zapcore.Level) bool { return l >= c.level && !c.closing.Load() }

func (c *etcdLogCore) With(fields []zapcore.Field) zapcore.Core {
	cp := *c
	cp.fields = append(append([]zapcore.Field(nil), c.fields...), fields...)
	return &cp
}

// irrelevantWarnings are etcd start-up advice for standalone deployments
// that does not apply to an embedded member: auth is off, and the client
// port exists only for etcdctl.
var irrelevantWarnings = map[string]bool{
	"simple token is not cryptographically signed":                                         true,
	"Running http and grpc server on single port. This is not recommended for production.": true,
}

func (c *etcdLogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) && !irrelevantWarnings[e.Message] {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *etcdLogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	if c.closing.Load() {
		return nil
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	attrs := make([]any, 0, 2*len(enc.Fields))
	for k, v := range enc.Fields {
		attrs = append(attrs, k, v)
	}
	c.log.Log(context.Background(), zapToSlog(e.Level), e.Message, attrs...)
	return nil
}

func (c *etcdLogCore) Sync() error { return nil }

func zapToSlog(l zapcore.Level) slog.Level {
	switch {
	case l >= zapcore.ErrorLevel:
		return slog.LevelError
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	default:
		return slog.LevelDebug
	}
}

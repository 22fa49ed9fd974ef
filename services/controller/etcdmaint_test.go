package controller

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/strata-io/strata/internal/testutil"
	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startTestController starts one controller on loopback with the flag
// defaults and args applied.
func startTestController(t *testing.T, args ...string) (*Controller, *syncBuffer) {
	t.Helper()
	var cfg Config
	fs := pflag.NewFlagSet("controller", pflag.ContinueOnError)
	cfg.RegisterFlags(fs)
	args = append([]string{"--data-dir", t.TempDir(), "--grpc-addr", testutil.FreeAddr(t), "--http-addr", testutil.FreeAddr(t),
		"--etcd-peer-addr", testutil.FreeAddr(t), "--etcd-client-addr", testutil.FreeAddr(t)}, args...)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	c, err := Start(cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c, logs
}

// gauge reads a gauge from the controller's /metrics registry.
func gauge(t *testing.T, c *Controller, name string) float64 {
	t.Helper()
	mfs, err := c.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func TestEtcdQuotaAndAutoCompaction(t *testing.T) {
	c, _ := startTestController(t, "--etcd-quota-bytes", "67108864", "--etcd-auto-compaction-retention", "1s")
	if got := c.etcd.Server.Cfg.QuotaBackendBytes; got != 64<<20 {
		t.Fatalf("etcd quota %d, want %d", got, 64<<20)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	first, err := c.cli.Put(ctx, "/test/k", "0")
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 50; i++ {
		if _, err := c.cli.Put(ctx, "/test/k", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	// Periodic compaction with a 1s retention compacts away the first
	// revision within a few seconds (it keeps writing meanwhile, as the
	// compactor skips a revision that has not moved).
	testutil.WaitFor(t, 15*time.Second, func() error {
		if _, err := c.cli.Put(ctx, "/test/tick", "x"); err != nil {
			return err
		}
		_, err := c.cli.Get(ctx, "/test/k", clientv3.WithRev(first.Header.Revision))
		if errors.Is(err, rpctypes.ErrCompacted) {
			return nil
		}
		return fmt.Errorf("revision %d not compacted yet (err %v)", first.Header.Revision, err)
	})
}

func TestEtcdNoSpaceAlarmIsDisarmed(t *testing.T) {
	c, logs := startTestController(t, "--etcd-defrag-interval", "0")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The maintenance loop has run once at start-up.
	testutil.WaitFor(t, 5*time.Second, func() error {
		if v := gauge(t, c, "strata_controller_etcd_db_size_bytes"); v <= 0 {
			return fmt.Errorf("strata_controller_etcd_db_size_bytes is %v", v)
		}
		return nil
	})

	// Raise the alarm etcd raises when the db passes its quota.
	if _, err := c.etcd.Server.Alarm(ctx, &etcdserverpb.AlarmRequest{Action: etcdserverpb.AlarmRequest_ACTIVATE,
		MemberID: uint64(c.etcd.Server.MemberID()), Alarm: etcdserverpb.AlarmType_NOSPACE}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.cli.Put(ctx, "/test/k", "v"); !errors.Is(err, rpctypes.ErrNoSpace) {
		t.Fatalf("put under a NOSPACE alarm: %v, want %v", err, rpctypes.ErrNoSpace)
	}
	m := &etcdMaintainer{c: c, lastDefrag: time.Now()}
	m.check(ctx)
	if _, err := c.cli.Put(ctx, "/test/k", "v"); err != nil {
		t.Fatalf("put after recovery: %v\n%s", err, logs)
	}
	out := logs.String()
	for _, want := range []string{`level=ERROR msg="etcd is out of space`, `level=INFO msg="etcd defragmented"`, `level=INFO msg="etcd NOSPACE alarm disarmed`} {
		if strings.Count(out, want) != 1 {
			t.Errorf("logs have %q %d times, want once:\n%s", want, strings.Count(out, want), out)
		}
	}
	if v := gauge(t, c, "strata_controller_etcd_nospace_alarm"); v != 0 {
		t.Errorf("strata_controller_etcd_nospace_alarm is %v after recovery", v)
	}
}

func TestEtcdConfigValidation(t *testing.T) {
	for _, args := range [][]string{
		{"--etcd-quota-bytes", "1000"},
		{"--etcd-auto-compaction-mode", "sometimes"},
		{"--etcd-auto-compaction-mode", "revision", "--etcd-auto-compaction-retention", "1h"},
		{"--etcd-auto-compaction-retention", "100"},
		{"--etcd-defrag-interval", "-1s"},
	} {
		var cfg Config
		fs := pflag.NewFlagSet("controller", pflag.ContinueOnError)
		cfg.RegisterFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(); err == nil {
			t.Errorf("%v: valid, want an error", args)
		}
	}
	var cfg Config
	cfg.RegisterFlags(pflag.NewFlagSet("controller", pflag.ContinueOnError))
	if err := cfg.Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

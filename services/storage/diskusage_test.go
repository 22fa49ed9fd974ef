package storage

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/strata-io/strata/internal/fsutil"
)

func TestDiskWatcherLogsOncePerCrossing(t *testing.T) {
	var buf bytes.Buffer
	w := newDiskWatcher("/data", 1000, slog.New(slog.NewTextHandler(&buf, nil)))
	var free uint64
	var fail bool
	w.statfs = func(string) (fsutil.Space, error) {
		if fail {
			return fsutil.Space{}, errors.New("boom")
		}
		return fsutil.Space{Free: free, Total: 10000}, nil
	}
	count := func(level, msg string) int {
		return strings.Count(buf.String(), "level="+level+" msg=\""+msg+"\"")
	}
	const low, recovered, failed = "log dir is low on disk space", "log dir has enough disk space again", "cannot read the free space of the log dir"
	for _, step := range []struct {
		free         uint64
		fail         bool
		warns, infos int
		failures     int
		wantLow, ok  bool
	}{
		{free: 5000, ok: true},
		{free: 999, warns: 1, wantLow: true, ok: true},
		{free: 10, warns: 1, wantLow: true, ok: true},
		{free: 1020, warns: 1, wantLow: true, ok: true}, // above the threshold, inside the margin
		{fail: true, warns: 1, failures: 1, wantLow: true},
		{fail: true, warns: 1, failures: 1, wantLow: true},
		{free: 1050, warns: 1, infos: 1, failures: 1, ok: true},
		{free: 2000, warns: 1, infos: 1, failures: 1, ok: true},
		{free: 500, warns: 2, infos: 1, failures: 1, wantLow: true, ok: true},
	} {
		free, fail = step.free, step.fail
		sp, ok := w.check()
		if ok != step.ok || (ok && sp.Free != step.free) {
			t.Fatalf("free %d: check = %+v, %v", step.free, sp, ok)
		}
		if got := [3]int{count("WARN", low), count("INFO", recovered), count("WARN", failed)}; got != [3]int{step.warns, step.infos, step.failures} {
			t.Fatalf("free %d (fail %v): warn/info/failure logs %v, want %v\n%s", step.free, step.fail, got, [3]int{step.warns, step.infos, step.failures}, buf.String())
		}
		if w.low != step.wantLow {
			t.Fatalf("free %d: low = %v, want %v", step.free, w.low, step.wantLow)
		}
	}
}

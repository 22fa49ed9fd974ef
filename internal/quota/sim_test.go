package quota

import (
	"testing"
	"time"
)

// TestThrottledClientKeepsToQuota simulates a producer that sends a
// 16 KiB request as soon as it may and honours every throttle: over a
// run long next to the window (whose first (samples-1) windows may go in
// one burst, as in Kafka), its rate stays within 10 % of the quota.
func TestThrottledClientKeepsToQuota(t *testing.T) {
	for _, c := range []struct {
		samples int
		run     time.Duration
	}{{11, 180 * time.Second}, {5, 40 * time.Second}, {3, 12 * time.Second}} {
		now := time.UnixMilli(5_000_000)
		start := now
		m := NewManager(c.samples, time.Second, nil, nil)
		m.now = func() time.Time { return now }
		q := Match{Bound: 100 << 10, Sensor: "p"}
		sent := 0.0
		for now.Sub(start) < c.run {
			d := m.Record(q, 16<<10)
			sent += 16 << 10
			now = now.Add(2*time.Millisecond + d) // a 2 ms round trip, then the throttle
		}
		rate := sent / now.Sub(start).Seconds()
		t.Logf("%d samples, %v: %.0f B/s for a quota of %.0f", c.samples, c.run, rate, q.Bound)
		if rate > q.Bound*1.1 || rate < q.Bound*0.9 {
			t.Errorf("%d samples: rate %.0f B/s is not within 10%% of %.0f", c.samples, rate, q.Bound)
		}
	}
}

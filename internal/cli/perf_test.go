package cli

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestPerfStatsPercentiles(t *testing.T) {
	start := time.Unix(0, 0)
	s := newPerfStats(start)
	for i := 1000; i >= 1; i-- { // 1..1000 ms, out of order
		s.record(100, time.Duration(i)*time.Millisecond)
	}
	r := s.result(start.Add(2 * time.Second))
	if r.Records != 1000 || r.Bytes != 100000 || r.Rate != 500 || r.P50 != 500 || r.P95 != 950 || r.P99 != 990 ||
		r.P999 != 999 || r.Max != 1000 || r.AvgMs != 500.5 {
		t.Fatalf("result %+v", r)
	}
	w := s.window(start.Add(time.Second))
	if w.Records != 1000 || w.RecordsPerSec != 1000 || w.MaxMs != 1000 {
		t.Fatalf("window %+v", w)
	}
	if w := s.window(start.Add(2 * time.Second)); w.Records != 0 || w.MaxMs != 0 || w.TotalRecords != 1000 {
		t.Fatalf("second window %+v", w)
	}
	if got := percentile(nil, 99); got != 0 {
		t.Fatalf("empty percentile %v", got)
	}
}

func TestPerfProduceFlags(t *testing.T) {
	dir := t.TempDir()
	payloads := filepath.Join(dir, "p.txt")
	if err := os.WriteFile(payloads, []byte("a\n\nbb\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.txt")
	if err := os.WriteFile(empty, []byte("\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"--topic", "t", "--records", "10"}, true},
		{[]string{"--topic", "t", "--duration", "1s", "--payload-file", payloads}, true},
		{[]string{"--topic", "t", "--records", "10", "--acks", "-1", "--compression", "zstd", "--throughput", "100"}, true},
		{[]string{"--records", "10"}, false},
		{[]string{"--topic", "t"}, false},
		{[]string{"--topic", "t", "--records", "10", "--duration", "1s"}, false},
		{[]string{"--topic", "t", "--records", "10", "--record-size", "10", "--payload-file", payloads}, false},
		{[]string{"--topic", "t", "--records", "10", "--payload-file", empty}, false},
		{[]string{"--topic", "t", "--records", "10", "--record-size", "17000000"}, false},
		{[]string{"--topic", "t", "--records", "10", "--producers", "0"}, false},
		{[]string{"--topic", "t", "--records", "10", "--batch-bytes", "0"}, false},
		{[]string{"--topic", "t", "--records", "10", "--linger", "-1s"}, false},
		{[]string{"--topic", "t", "--records", "10", "--throughput", "-2"}, false},
		{[]string{"--topic", "t", "--records", "10", "--protocol", "kafka", "--brokers", " , "}, false},
	} {
		f := &clientFlags{output: "table"}
		produce, pp := newPerfProduceCmd(f)
		if err := produce.ParseFlags(tc.args); err != nil {
			t.Fatal(err)
		}
		checked := pp.checkProduce(produce)
		if (checked == nil) != tc.ok {
			t.Errorf("%v: %v, want ok=%v", tc.args, checked, tc.ok)
		}
		if tc.ok && len(pp.payloads) == 0 {
			t.Errorf("%v: no payloads", tc.args)
		}
	}
}

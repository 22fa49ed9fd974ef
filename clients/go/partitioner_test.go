package strata

import (
	"testing"
)

// Partitions Kafka's default partitioner picks (Utils.toPositive(h) % n),
// worked out from Kafka's murmur2 vectors (UtilsTest.testMurmur2; see
// api/kafkakey).
func TestKafkaKeyPartitionKnownAnswers(t *testing.T) {
	for _, c := range []struct {
		key  string
		n    int
		want int
	}{
		{"21", 10, int((-973932308 & 0x7fffffff) % 10)},
		{"foobar", 6, int((-790332482 & 0x7fffffff) % 6)},
		{"abc", 3, 479470107 % 3},
		{"a-little-bit-longer-string", 100, int((-1486304829 & 0x7fffffff) % 100)},
		{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", 7, int((-58897971 & 0x7fffffff) % 7)},
	} {
		if got := KafkaKeyPartition([]byte(c.key), c.n); got != c.want {
			t.Errorf("KafkaKeyPartition(%q, %d) = %d, want %d", c.key, c.n, got, c.want)
		}
	}
	// The default partitioner hashes keys (an empty key too) the same way.
	tp := KafkaPartitioner().ForTopic("t")
	all := func(int) bool { return true }
	for _, key := range []string{"", "21", "foobar"} {
		if got, want := tp.Partition(&Record{Key: []byte(key)}, 6, all), KafkaKeyPartition([]byte(key), 6); got != want {
			t.Errorf("key %q: %d, want %d", key, got, want)
		}
	}
}

func TestStickyPartitionerForKeylessRecords(t *testing.T) {
	tp := KafkaPartitioner().ForTopic("t")
	up := func(p int) bool { return p == 2 || p == 4 }
	first := tp.Partition(&Record{}, 6, up)
	if !up(first) {
		t.Fatalf("picked partition %d without a leader", first)
	}
	for range 100 {
		if got := tp.Partition(&Record{}, 6, up); got != first {
			t.Fatalf("keyless records moved from %d to %d within a batch", first, got)
		}
	}
	seen := map[int]bool{}
	for range 200 {
		tp.OnNewBatch()
		seen[tp.Partition(&Record{}, 6, up)] = true
	}
	if len(seen) != 2 || !seen[2] || !seen[4] {
		t.Fatalf("after new batches, keyless records went to %v, want 2 and 4", seen)
	}
}

func TestRoundRobinAndManual(t *testing.T) {
	rr := RoundRobinPartitioner().ForTopic("t")
	seen := map[int]int{}
	for range 30 {
		seen[rr.Partition(&Record{Key: []byte("same")}, 3, nil)]++
	}
	for p := range 3 {
		if seen[p] != 10 {
			t.Fatalf("round robin: %v", seen)
		}
	}
	if got := ManualPartitioner().ForTopic("t").Partition(&Record{Partition: 5}, 8, nil); got != 5 {
		t.Fatalf("manual: %d", got)
	}
}

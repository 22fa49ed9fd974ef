package stream

import (
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Kafka's own vectors (UtilsTest.testMurmur2), as Java ints.
func TestMurmur2KafkaVectors(t *testing.T) {
	for _, c := range []struct {
		in   []byte
		want int32
	}{
		{[]byte("21"), -973932308},
		{[]byte("foobar"), -790332482},
		{[]byte("a-little-bit-long-string"), -985981536},
		{[]byte("a-little-bit-longer-string"), -1486304829},
		{[]byte("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971},
		{[]byte{'a', 'b', 'c'}, 479470107},
	} {
		if got := int32(murmur2(c.in)); got != c.want {
			t.Errorf("murmur2(%q) = %d, want %d", c.in, got, c.want)
		}
	}
}

// Partitions Kafka's default partitioner picks, worked out by hand from the
// vectors above: toPositive(h) % n.
func TestKeyPartitionKafkaValues(t *testing.T) {
	for _, c := range []struct {
		key  string
		n    int32
		want int32
	}{
		{"21", 10, int32((-973932308 & 0x7fffffff) % 10)},
		{"foobar", 6, int32((-790332482 & 0x7fffffff) % 6)},
		{"abc", 3, 479470107 % 3},
		{"a-little-bit-longer-string", 100, int32((-1486304829 & 0x7fffffff) % 100)},
	} {
		if got := keyPartition([]byte(c.key), c.n); got != c.want {
			t.Errorf("keyPartition(%q, %d) = %d, want %d", c.key, c.n, got, c.want)
		}
	}
}

// franz-go's StickyKeyPartitioner(nil) partitions keyed records exactly as
// Kafka's Java client; it is the oracle for random keys of every length
// (each tail length of murmur2) and partition counts.
func TestKeyPartitionMatchesFranzGo(t *testing.T) {
	oracle := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20_000 {
		key := make([]byte, i%67)
		for j := range key {
			key[j] = byte(rng.IntN(256))
		}
		n := int32(1 + rng.IntN(200))
		want := int32(oracle.Partition(&kgo.Record{Key: key}, int(n)))
		if got := keyPartition(key, n); got != want {
			t.Fatalf("key %x over %d partitions: %d, franz-go (Kafka) picks %d", key, n, got, want)
		}
	}
	// The empty key is a key: hashed, not sticky.
	if got, want := keyPartition([]byte{}, 7), int32(oracle.Partition(&kgo.Record{Key: []byte{}}, 7)); got != want {
		t.Fatalf("empty key: %d, want %d", got, want)
	}
}

func TestStickyPartitionPicksAvailable(t *testing.T) {
	seen := map[int32]int{}
	for range 2000 {
		p := stickyPartition(6, func(p int32) bool { return p%2 == 1 })
		if p%2 != 1 {
			t.Fatalf("picked partition %d, which has no leader", p)
		}
		seen[p]++
	}
	if len(seen) != 3 {
		t.Fatalf("picked %v, want each of 1, 3, 5", seen)
	}
	// With no leader anywhere any partition will do.
	for range 100 {
		if p := stickyPartition(4, func(int32) bool { return false }); p < 0 || p >= 4 {
			t.Fatalf("picked %d of 4", p)
		}
	}
}

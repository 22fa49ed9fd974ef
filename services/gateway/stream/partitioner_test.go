package stream

import (
	"github.com/strata-io/strata/api/kafkakey"
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// franz-go's StickyKeyPartitioner(nil) partitions keyed records exactly as
// Kafka's Java client (api/kafkakey has Kafka's own vectors); it is the oracle for random keys of every length
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
		if got := kafkakey.Partition(key, n); got != want {
			t.Fatalf("key %x over %d partitions: %d, franz-go (Kafka) picks %d", key, n, got, want)
		}
	}
	// The empty key is a key: hashed, not sticky.
	if got, want := kafkakey.Partition([]byte{}, 7), int32(oracle.Partition(&kgo.Record{Key: []byte{}}, 7)); got != want {
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

package strata

import (
	"math/rand/v2"

	"github.com/strata-io/strata/api/kafkakey"
)

// Partitioner picks the partition of each produced record. The producer
// asks it for one [TopicPartitioner] per topic.
type Partitioner interface {
	ForTopic(topic string) TopicPartitioner
}

// TopicPartitioner partitions the records of one topic. The producer calls
// it from one goroutine per topic, so it needs no locking.
type TopicPartitioner interface {
	// Partition returns the partition of r, in [0, partitions).
	// available says whether a partition has a leader right now.
	Partition(r *Record, partitions int, available func(int) bool) int
	// OnNewBatch is called when the producer has cut a request of this
	// topic: a sticky partitioner moves to another partition here.
	OnNewBatch()
}

// KafkaPartitioner is the default partitioner, Apache Kafka's Java
// producer's: a keyed record (an empty key is a key) goes to
// toPositive(murmur2(key)) % partitions over all partitions, so Kafka
// producers and this client put the same key in the same partition; keyless
// records stick to one partition with a leader, chosen at random, until the
// producer cuts a request (Kafka's sticky partitioner, KIP-480).
func KafkaPartitioner() Partitioner { return kafkaPartitioner{} }

type kafkaPartitioner struct{}

func (kafkaPartitioner) ForTopic(string) TopicPartitioner { return &stickyKeyPartitioner{sticky: -1} }

type stickyKeyPartitioner struct{ sticky int }

func (p *stickyKeyPartitioner) Partition(r *Record, n int, available func(int) bool) int {
	if r.Key != nil {
		return KafkaKeyPartition(r.Key, n)
	}
	if p.sticky < 0 || p.sticky >= n {
		p.sticky = pickAvailable(n, available)
	}
	return p.sticky
}

func (p *stickyKeyPartitioner) OnNewBatch() { p.sticky = -1 }

// pickAvailable picks at random among the partitions with a leader, or
// among all when none has one.
func pickAvailable(n int, available func(int) bool) int {
	start := rand.IntN(n)
	for i := range n {
		if q := (start + i) % n; available(q) {
			return q
		}
	}
	return start
}

// ManualPartitioner writes each record to the partition in its Partition
// field; a partition out of range fails the record with ErrInvalidRecord.
func ManualPartitioner() Partitioner { return manualPartitioner{} }

type manualPartitioner struct{}

func (manualPartitioner) ForTopic(string) TopicPartitioner { return manualPartitioner{} }

func (manualPartitioner) Partition(r *Record, _ int, _ func(int) bool) int { return int(r.Partition) }

func (manualPartitioner) OnNewBatch() {}

// RoundRobinPartitioner spreads records over the partitions in turn,
// ignoring keys.
func RoundRobinPartitioner() Partitioner { return roundRobin{} }

type roundRobin struct{}

func (roundRobin) ForTopic(string) TopicPartitioner { return &roundRobinTopic{next: -1} }

type roundRobinTopic struct{ next int }

func (p *roundRobinTopic) Partition(_ *Record, n int, _ func(int) bool) int {
	if p.next < 0 {
		p.next = rand.IntN(n)
	}
	p.next = (p.next + 1) % n
	return p.next
}

func (p *roundRobinTopic) OnNewBatch() {}

// KafkaKeyPartition is the partition Kafka's default partitioner picks for
// key among partitions: toPositive(murmur2(key)) % partitions.
func KafkaKeyPartition(key []byte, partitions int) int {
	if partitions <= 0 {
		return 0
	}
	return int(kafkakey.Partition(key, int32(partitions)))
}

package stream

import "math/rand/v2"

// murmur2 is Kafka's Utils.murmur2 (seed 0x9747b28c), the hash of Kafka's
// default partitioner, so a keyed record lands where a Kafka producer puts
// it.
func murmur2(data []byte) uint32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	h := seed ^ uint32(len(data))
	for ; len(data) >= 4; data = data[4:] {
		k := uint32(data[0]) | uint32(data[1])<<8 | uint32(data[2])<<16 | uint32(data[3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	switch len(data) {
	case 3:
		h ^= uint32(data[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}

// keyPartition is the partition Kafka's default partitioner picks for a
// keyed record: toPositive(murmur2(key)) % numPartitions, over every
// partition whether or not it has a leader.
func keyPartition(key []byte, numPartitions int32) int32 {
	return int32(murmur2(key)&0x7fffffff) % numPartitions
}

// stickyPartition picks the one partition that every keyless record of a
// request goes to, as Kafka's sticky partitioner does per batch: at random
// among the partitions that have a leader, or among all when none has.
func stickyPartition(numPartitions int32, available func(int32) bool) int32 {
	var up []int32
	for p := range numPartitions {
		if available(p) {
			up = append(up, p)
		}
	}
	if len(up) == 0 {
		return rand.Int32N(numPartitions)
	}
	return up[rand.IntN(len(up))]
}

// Package kafkakey places a keyed record on a partition as Apache Kafka's
// default partitioner does, so that a record sent through Strata's gRPC API
// (by the gateway or by clients/go) lands where a Kafka producer puts it.
// It lives in the api module because clients and the server both need it.
package kafkakey

// Murmur2 is Kafka's Utils.murmur2 (seed 0x9747b28c).
func Murmur2(data []byte) uint32 {
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

// Partition is the partition Kafka's default partitioner picks for key
// among n (n > 0): toPositive(murmur2(key)) % n, over every partition
// whether or not it has a leader.
func Partition(key []byte, n int32) int32 {
	return int32(Murmur2(key)&0x7fffffff) % n
}

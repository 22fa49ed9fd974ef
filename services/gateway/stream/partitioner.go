package stream

import "math/rand/v2"

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

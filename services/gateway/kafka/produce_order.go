package kafka

import (
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// produceOrder keeps one connection's produces in request order per
// partition: a produce starts once every earlier produce of the connection
// that names one of its partitions is done. Pipelined idempotent batches so
// reach each partition leader in sequence order, while a produce to other
// partitions (a sticky partitioner's next batch) does not queue behind an
// acks=all round trip it has nothing to do with.
type produceOrder struct {
	mu sync.Mutex
	// last holds, per partition, the done channel of the connection's
	// latest produce naming it, until that produce is done.
	last map[topicPartition]chan struct{}
}

// enter registers a produce of req, read after every produce entered
// before it. It returns what the produce must wait for (closed channels of
// its predecessors, at most one per partition) and done, to call when it
// has finished.
func (o *produceOrder) enter(req *kmsg.ProduceRequest) (wait []chan struct{}, done func()) {
	mine := make(chan struct{})
	var parts []topicPartition
	o.mu.Lock()
	if o.last == nil {
		o.last = make(map[topicPartition]chan struct{})
	}
	for i := range req.Topics {
		t := &req.Topics[i]
		for j := range t.Partitions {
			tp := topicPartition{t.Topic, t.Partitions[j].Partition}
			prev, ok := o.last[tp]
			if ok && prev == mine {
				continue // named twice in one request
			}
			if ok {
				wait = append(wait, prev)
			}
			o.last[tp] = mine
			parts = append(parts, tp)
		}
	}
	o.mu.Unlock()
	return wait, func() {
		o.mu.Lock()
		for _, tp := range parts {
			if o.last[tp] == mine {
				delete(o.last, tp)
			}
		}
		o.mu.Unlock()
		close(mine)
	}
}

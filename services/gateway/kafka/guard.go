package kafka

import (
	"unsafe"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The decode guard: checks a Produce body before kmsg decodes it. The
// patched kmsg (third_party/kmsg) already stops tag loops and arrays when
// the input runs out and caps what a decode allocates at 8× its input; a
// Produce frame may be 100 MiB, so Produce gets a tighter bound here: its
// topic and partition entries may not cost more memory than guardMultiple
// times the frame (plus guardSlack). An honest partition entry carries a
// record batch (61 bytes or more) and costs 40 bytes; even one topic (64
// bytes) per one-character name and tiny batch stays under 1.4×.
const (
	guardMultiple = 2
	guardSlack    = 64 << 10
)

var (
	produceTopicSize     = int(unsafe.Sizeof(kmsg.ProduceRequestTopic{}))
	producePartitionSize = int(unsafe.Sizeof(kmsg.ProduceRequestTopicPartition{}))
)

// guardProduce walks a Produce body of the given version (3..11) and
// returns an error if it is malformed or its entries would take more than
// guardMultiple times the frame's size. It allocates nothing.
func guardProduce(body []byte, version int16, frameSize int) error {
	flexible := version >= 9
	r := kbin.Reader{Src: body}
	str := func() {
		if flexible {
			compactSpan(&r)
			return
		}
		if n := r.Int16(); n > 0 {
			r.Span(int(n))
		}
	}
	arrayLen := func(minElem int) int {
		var n int
		if flexible {
			n = int(r.Uvarint()) - 1
		} else {
			n = int(r.Int32())
		}
		if n < 0 || n*minElem > len(r.Src) { // -1 (null) or more than can follow
			if n != -1 {
				r.Span(-1) // mark bad
			}
			return 0
		}
		return n
	}
	// Minimum wire sizes: a topic is a name and an array length, a
	// partition an index and a bytes length (plus a tag count each when
	// flexible).
	minTopic, minPartition := 6, 8
	if flexible {
		minTopic, minPartition = 3, 6
	}
	str() // transactional_id
	r.Int16()
	r.Int32()
	var topics, partitions int
	for nt := arrayLen(minTopic); nt > 0 && r.Ok(); nt-- {
		topics++
		str()
		for np := arrayLen(minPartition); np > 0 && r.Ok(); np-- {
			partitions++
			r.Int32()
			if flexible {
				compactSpan(&r)
				skipTags(&r)
			} else if n := r.Int32(); n > 0 {
				r.Span(int(n))
			}
		}
		if flexible {
			skipTags(&r)
		}
	}
	if flexible {
		skipTags(&r)
	}
	if !r.Ok() {
		return closeReason("malformed Produce v%d request", version)
	}
	if cost := topics*produceTopicSize + partitions*producePartitionSize; cost > guardMultiple*frameSize+guardSlack {
		return closeReason("Produce request of %d bytes has %d topic and %d partition entries (%d bytes decoded), over its size", frameSize, topics, partitions, cost)
	}
	return nil
}

// compactSpan skips a compact nullable string or bytes: length+1, 0 null.
func compactSpan(r *kbin.Reader) {
	if n := int(r.Uvarint()); n > 1 {
		r.Span(n - 1)
	}
}

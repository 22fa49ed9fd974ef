package kafka

import (
	"encoding/binary"
	"net"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// A fetch response is mostly record batches, and they already sit in the
// buffer the storage node's answer arrived in. encodeFetch frames the
// response around them: the small fields are encoded, each large batch
// stays where it is, and the write loop hands the pieces to one writev.
// kmsg's encoder would copy every batch into a freshly zeroed buffer
// first (a sixth of a consuming dev's CPU).

// minWrittenInPlace is the batch size from which a batch is written from
// its own buffer; smaller ones cost less to copy than an iovec.
const minWrittenInPlace = 4 << 10

// encodeFetch frames resp as encodeResponse would, byte for byte, with its
// large batches as pieces of their own. ok is false for a response with
// tagged fields set, which kmsg's encoder is left to write.
func encodeFetch(corr int32, resp *kmsg.FetchResponse) (out net.Buffers, ok bool) {
	if !untagged(resp) {
		return nil, false
	}
	flexible := resp.Version >= 12
	e := fetchEncoder{flexible: flexible, head: make([]byte, 8, 512)}
	binary.BigEndian.PutUint32(e.head[4:], uint32(corr))
	if flexible {
		e.head = append(e.head, 0) // response header tags
	}
	v := resp.Version
	if v >= 1 {
		e.int32(resp.ThrottleMillis)
	}
	if v >= 7 {
		e.int16(resp.ErrorCode)
		e.int32(resp.SessionID)
	}
	e.length(len(resp.Topics), false)
	for i := range resp.Topics {
		t := &resp.Topics[i]
		if v <= 12 {
			e.string(t.Topic)
		} else {
			e.head = append(e.head, t.TopicID[:]...)
		}
		e.length(len(t.Partitions), false)
		for j := range t.Partitions {
			p := &t.Partitions[j]
			e.int32(p.Partition)
			e.int16(p.ErrorCode)
			e.int64(p.HighWatermark)
			if v >= 4 {
				e.int64(p.LastStableOffset)
			}
			if v >= 5 {
				e.int64(p.LogStartOffset)
			}
			if v >= 4 {
				e.length(len(p.AbortedTransactions), p.AbortedTransactions == nil)
				for _, a := range p.AbortedTransactions {
					e.int64(a.ProducerID)
					e.int64(a.FirstOffset)
					e.tags()
				}
			}
			if v >= 11 {
				e.int32(p.PreferredReadReplica)
			}
			e.records(p.RecordBatches)
			e.tags()
		}
		e.tags()
	}
	e.tags()
	e.out = append(e.out, e.head)
	size := -4
	for _, b := range e.out {
		size += len(b)
	}
	binary.BigEndian.PutUint32(e.out[0], uint32(size))
	return e.out, true
}

// untagged reports whether resp sets no tagged field, so that each tag
// section encodes as a zero count.
func untagged(resp *kmsg.FetchResponse) bool {
	if len(resp.Brokers) > 0 || resp.UnknownTags.Len() > 0 {
		return false
	}
	for i := range resp.Topics {
		t := &resp.Topics[i]
		if t.UnknownTags.Len() > 0 {
			return false
		}
		for j := range t.Partitions {
			p := &t.Partitions[j]
			d, l, s := &p.DivergingEpoch, &p.CurrentLeader, &p.SnapshotID
			if d.Epoch != -1 || d.EndOffset != -1 || d.UnknownTags.Len() > 0 ||
				l.LeaderID != -1 || l.LeaderEpoch != -1 || l.UnknownTags.Len() > 0 ||
				s.EndOffset != -1 || s.Epoch != -1 || s.UnknownTags.Len() > 0 ||
				p.UnknownTags.Len() > 0 {
				return false
			}
			for k := range p.AbortedTransactions {
				if p.AbortedTransactions[k].UnknownTags.Len() > 0 {
					return false
				}
			}
		}
	}
	return true
}

// fetchEncoder appends Kafka's primitive types to head; a large batch
// closes head into out, goes into out itself, and starts a new head.
type fetchEncoder struct {
	flexible bool
	head     []byte
	out      net.Buffers
}

func (e *fetchEncoder) int16(v int16) { e.head = binary.BigEndian.AppendUint16(e.head, uint16(v)) }
func (e *fetchEncoder) int32(v int32) { e.head = binary.BigEndian.AppendUint32(e.head, uint32(v)) }
func (e *fetchEncoder) int64(v int64) { e.head = binary.BigEndian.AppendUint64(e.head, uint64(v)) }

// tags writes an empty tag section (flexible versions only).
func (e *fetchEncoder) tags() {
	if e.flexible {
		e.head = append(e.head, 0)
	}
}

// length writes the length of a nullable array or bytes: a compact
// (length+1, 0 for null) unsigned varint in flexible versions, an int32
// (-1 for null) before, or an int16 for strings.
func (e *fetchEncoder) length(n int, null bool) {
	switch {
	case e.flexible && null:
		e.head = append(e.head, 0)
	case e.flexible:
		e.head = binary.AppendUvarint(e.head, uint64(n)+1)
	case null:
		e.int32(-1)
	default:
		e.int32(int32(n))
	}
}

func (e *fetchEncoder) string(s string) {
	if e.flexible {
		e.length(len(s), false)
	} else {
		e.int16(int16(len(s)))
	}
	e.head = append(e.head, s...)
}

func (e *fetchEncoder) records(b []byte) {
	e.length(len(b), b == nil)
	if len(b) < minWrittenInPlace {
		e.head = append(e.head, b...)
		return
	}
	e.out = append(e.out, e.head, b)
	e.head = make([]byte, 0, 256)
}

package strata

import (
	"encoding/binary"
	"time"

	"github.com/strata-io/strata/api/kafkabatch"

	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
)

// Record is one record, produced or consumed. The same type goes both ways
// (as franz-go's kgo.Record): the producer fills Partition, Offset and
// Timestamp once it is written, the consumer and reader fill every field.
type Record struct {
	// Topic is the topic to write to (required when producing).
	Topic string
	// Partition is set by the producer's partitioner, unless it is
	// [ManualPartitioner], which writes to the partition given here.
	Partition int32
	// Key is the record's key; nil is a null key (keyless: the default
	// partitioner spreads such records), empty and not nil is an empty key.
	Key []byte
	// Value is the record's value; nil is a null value (a tombstone on a
	// compacted topic).
	Value []byte
	// Headers keep their order and may repeat a key; a key must not be
	// empty.
	Headers []Header
	// Timestamp is the record's time; the zero time lets the gateway stamp
	// it. After a write (and when read) it is the timestamp as stored: on
	// a topic with message.timestamp.type=LogAppendTime, the append time.
	Timestamp time.Time
	// LogAppendTime is set on a read record whose timestamp the partition
	// leader set (Kafka's LogAppendTime).
	LogAppendTime bool
	// Offset is the record's offset once written or read; -1 with
	// AcksNone.
	Offset int64
}

// Header is one record header.
type Header struct {
	Key string
	// Value nil is a null value; empty and not nil is an empty value.
	Value []byte
}

// size is what the server counts for a record in credits and in-flight
// budgets: key, value and header bytes.
func (r *Record) size() int {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// Bounds of what one record adds to a batch beyond its key, value and
// headers, as the gateway counts a ProduceStream session's in-flight bytes.
const (
	recordOverhead = 36
	headerOverhead = 10
)

// wireSize is the record's size as the gateway counts it against a
// session's in-flight budget.
func (r *Record) wireSize() int {
	return recordOverhead + headerOverhead*len(r.Headers) + r.size()
}

func (r *Record) toProto() *streamv1.ProduceRecord {
	p := &streamv1.ProduceRecord{Key: r.Key, Value: r.Value}
	part := r.Partition
	p.Partition = &part
	if !r.Timestamp.IsZero() {
		ms := r.Timestamp.UnixMilli()
		p.TimestampMs = &ms
	}
	if len(r.Headers) > 0 {
		p.Headers = make([]*streamv1.Header, len(r.Headers))
		for i, h := range r.Headers {
			p.Headers[i] = &streamv1.Header{Key: h.Key, Value: h.Value}
		}
	}
	return p
}

func recordFromProto(topic string, partition int32, p *streamv1.Record) *Record {
	r := &Record{
		Topic: topic, Partition: partition, Offset: p.GetOffset(),
		Key: p.Key, Value: p.Value,
		Timestamp:     time.UnixMilli(p.GetTimestampMs()),
		LogAppendTime: p.GetTimestampType() == streamv1.TimestampType_TIMESTAMP_TYPE_LOG_APPEND_TIME,
	}
	if len(p.GetHeaders()) > 0 {
		r.Headers = make([]Header, len(p.GetHeaders()))
		for i, h := range p.GetHeaders() {
			r.Headers[i] = Header{Key: h.GetKey(), Value: h.Value}
		}
	}
	return r
}

// recordsOf is what a ConsumeRecords or a FetchPartitionResult of a
// partition holds: its records, or the records of its batches, which the
// new records' keys, values and header values alias (the message's own
// buffers, which nothing else holds).
func recordsOf(topic string, partition int32, records []*streamv1.Record, batches [][]byte) ([]*Record, error) {
	if len(batches) == 0 {
		recs := make([]*Record, len(records))
		for i, r := range records {
			recs[i] = recordFromProto(topic, partition, r)
		}
		return recs, nil
	}
	n := 0
	for _, b := range batches {
		if len(b) >= kafkabatch.HeaderSize {
			// The record count, bounded by the bytes: a record takes 7 at least.
			n += min(int(binary.BigEndian.Uint32(b[kafkabatch.HeaderSize-4:])), len(b)/7)
		}
	}
	// One allocation for the message's records, as Kafka clients allocate
	// a batch's: records are processed together and dropped together.
	slab := make([]Record, 0, n)
	recs := make([]*Record, 0, n)
	for _, b := range batches {
		err := kafkabatch.Decode(b, func(k kafkabatch.Record) {
			slab = append(slab, Record{Topic: topic, Partition: partition, Offset: k.Offset, Key: k.Key, Value: k.Value,
				Timestamp: time.UnixMilli(k.Timestamp), LogAppendTime: k.LogAppendTime})
			r := &slab[len(slab)-1]
			if len(k.Headers) > 0 {
				r.Headers = make([]Header, len(k.Headers))
				for i, h := range k.Headers {
					r.Headers[i] = Header(h)
				}
			}
			recs = append(recs, r)
		})
		if err != nil {
			return nil, err
		}
	}
	return recs, nil
}

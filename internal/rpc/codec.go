package rpc

import (
	"bytes"
	"fmt"
	"slices"

	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The storage RPCs that carry record batches (Produce requests, Replicate
// and Fetch answers) go through gRPC with one copy of the batch bytes less
// each way than the stock protobuf codec makes:
//
//   - sending, the batches are handed to gRPC as buffers of their own
//     (mem.SliceBuffer) beside the small encoded fields, instead of being
//     copied into one marshalled message first;
//   - receiving, the message is copied out of gRPC's pooled buffers once,
//     and each batch field is a sub-slice of that copy, instead of a
//     second copy made by proto.Unmarshal.
//
// A Consume stream's stored batches (ConsumeRecords.record_batches) are
// sent the same way. Every other message goes through the stock codec.
// The wire format is plain protobuf either way, so peers with the stock
// codec interoperate.
// A sent message's batches must not change until gRPC has written them:
// the senders (the gateway's router, the storage handlers) never touch a
// request or answer again after sending it.

func init() {
	encoding.RegisterCodecV2(batchCodec{base: encoding.GetCodecV2(grpcproto.Name)})
}

// batchCodec replaces the stock "proto" codec.
type batchCodec struct{ base encoding.CodecV2 }

func (batchCodec) Name() string { return grpcproto.Name }

// batchFields names, for a message that carries batches, its repeated
// partitions field and the bytes field of each partition.
type batchFields struct {
	list, records protoreflect.FieldDescriptor
}

func fieldsFor(m proto.Message) *batchFields {
	list := m.ProtoReflect().Descriptor().Fields().ByName("partitions")
	return &batchFields{list: list, records: list.Message().Fields().ByName("records")}
}

var (
	produceRequest    = fieldsFor(&storagev1.ProduceRequest{})
	replicateResponse = fieldsFor(&storagev1.ReplicateResponse{})
	fetchResponse     = fieldsFor(&storagev1.FetchResponse{})
)

func fieldsOf(v any) (proto.Message, *batchFields) {
	switch m := v.(type) {
	case *storagev1.ProduceRequest:
		return m, produceRequest
	case *storagev1.ReplicateResponse:
		return m, replicateResponse
	case *storagev1.FetchResponse:
		return m, fetchResponse
	}
	return nil, nil
}

// minAliasBytes is the batch size from which a batch travels as a buffer of
// its own; smaller ones are cheaper to copy into the encoded fields.
const minAliasBytes = 4 << 10

func (c batchCodec) Marshal(v any) (mem.BufferSlice, error) {
	if r, ok := v.(*streamv1.ConsumeResponse); ok {
		return c.marshalConsume(r)
	}
	m, f := fieldsOf(v)
	if m == nil {
		return c.base.Marshal(v)
	}
	msg := m.ProtoReflect()
	list := msg.Get(f.list).List()
	parts := make([]protoreflect.Message, list.Len())
	big := false
	for i := range parts {
		parts[i] = list.Get(i).Message()
		big = big || len(parts[i].Get(f.records).Bytes()) >= minAliasBytes
	}
	if !big {
		return c.base.Marshal(v)
	}
	// Encoded as: the message without its partitions, then each partition
	// as a length-delimited field whose body is its other fields followed
	// by its batch field. Field order does not matter to a decoder, and
	// repeated fields keep their order. The fields taken out are put back
	// before returning.
	msg.Clear(f.list)
	defer func() {
		l := msg.Mutable(f.list).List()
		for _, p := range parts {
			l.Append(protoreflect.ValueOfMessage(p))
		}
	}()
	head, err := proto.MarshalOptions{}.MarshalAppend(nil, m)
	if err != nil {
		return nil, err
	}
	out := pieces{head: head}
	for _, p := range parts {
		rec := p.Get(f.records).Bytes()
		if len(rec) == 0 {
			sub, err := proto.MarshalOptions{}.MarshalAppend(nil, p.Interface())
			if err != nil {
				return nil, err
			}
			out.head = protowire.AppendTag(out.head, f.list.Number(), protowire.BytesType)
			out.head = protowire.AppendBytes(out.head, sub)
			continue
		}
		p.Clear(f.records)
		sub, err := proto.MarshalOptions{}.MarshalAppend(nil, p.Interface())
		p.Set(f.records, protoreflect.ValueOfBytes(rec))
		if err != nil {
			return nil, err
		}
		size := len(sub) + protowire.SizeTag(f.records.Number()) + protowire.SizeBytes(len(rec))
		out.head = protowire.AppendTag(out.head, f.list.Number(), protowire.BytesType)
		out.head = protowire.AppendVarint(out.head, uint64(size))
		out.head = append(out.head, sub...)
		out.bytesField(f.records.Number(), rec)
	}
	return out.done(), nil
}

// pieces is an encoding being built whose large bytes fields are buffers
// of their own: head is the encoded bytes since the last of them.
type pieces struct {
	out  mem.BufferSlice
	head []byte
}

// bytesField appends field num holding b: copied into head when small, by
// reference from minAliasBytes on.
func (p *pieces) bytesField(num protowire.Number, b []byte) {
	p.head = protowire.AppendTag(p.head, num, protowire.BytesType)
	p.head = protowire.AppendVarint(p.head, uint64(len(b)))
	if len(b) < minAliasBytes {
		p.head = append(p.head, b...)
		return
	}
	p.out = append(p.out, mem.SliceBuffer(p.head), mem.SliceBuffer(b))
	p.head = nil
}

func (p *pieces) done() mem.BufferSlice {
	if len(p.head) > 0 {
		p.out = append(p.out, mem.SliceBuffer(p.head))
	}
	return p.out
}

// The field numbers of ConsumeResponse.records and
// ConsumeRecords.record_batches.
var (
	consumeRecordsField = (&streamv1.ConsumeResponse{}).ProtoReflect().Descriptor().Fields().ByName("records").Number()
	consumeBatchesField = (&streamv1.ConsumeRecords{}).ProtoReflect().Descriptor().Fields().ByName("record_batches").Number()
)

// marshalConsume hands the stored batches a Consume stream sends to gRPC
// as buffers of their own, as Marshal does the storage RPCs' batches: the
// message is encoded as its records field whose body is the other fields
// of ConsumeRecords followed by each batch.
func (c batchCodec) marshalConsume(m *streamv1.ConsumeResponse) (mem.BufferSlice, error) {
	recs := m.GetRecords()
	batches := recs.GetRecordBatches()
	if !slices.ContainsFunc(batches, func(b []byte) bool { return len(b) >= minAliasBytes }) {
		return c.base.Marshal(m)
	}
	recs.RecordBatches = nil
	head, err := proto.MarshalOptions{}.MarshalAppend(nil, recs)
	recs.RecordBatches = batches
	if err != nil {
		return nil, err
	}
	size := len(head)
	for _, b := range batches {
		size += protowire.SizeTag(consumeBatchesField) + protowire.SizeBytes(len(b))
	}
	out := pieces{head: protowire.AppendTag(make([]byte, 0, 16+len(head)), consumeRecordsField, protowire.BytesType)}
	out.head = append(protowire.AppendVarint(out.head, uint64(size)), head...)
	for _, b := range batches {
		out.bytesField(consumeBatchesField, b)
	}
	return out.done(), nil
}

func (c batchCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, f := fieldsOf(v)
	if m == nil {
		return c.base.Unmarshal(data, v)
	}
	return unmarshalAliased(gather(data), m, f)
}

// gather copies data into one new buffer, as data.Materialize does but
// without first zeroing it (bytes.Join allocates its result unzeroed):
// that zeroing was 6% of `strata dev`'s CPU while a Kafka consumer read.
func gather(data mem.BufferSlice) []byte {
	if len(data) == 1 {
		return bytes.Clone(data[0].ReadOnlyData())
	}
	parts := make([][]byte, len(data))
	for i, b := range data {
		parts[i] = b.ReadOnlyData()
	}
	return bytes.Join(parts, nil)
}

// unmarshalAliased decodes buf into m with each partition's batch field a
// sub-slice of buf: the other fields are gathered and decoded by
// proto.Unmarshal, the batch fields are set afterwards.
func unmarshalAliased(buf []byte, m proto.Message, f *batchFields) error {
	listNum, recNum := f.list.Number(), f.records.Number()
	rest := make([]byte, 0, 256)
	var body []byte
	var recs [][]byte
	for b := buf; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("decode %T: %w", m, protowire.ParseError(n))
		}
		l := protowire.ConsumeFieldValue(num, typ, b[n:])
		if l < 0 {
			return fmt.Errorf("decode %T: %w", m, protowire.ParseError(l))
		}
		if num != listNum || typ != protowire.BytesType {
			rest = append(rest, b[:n+l]...)
			b = b[n+l:]
			continue
		}
		sub, _ := protowire.ConsumeBytes(b[n:])
		b = b[n+l:]
		body = body[:0]
		var rec []byte
		for s := sub; len(s) > 0; {
			num, typ, n := protowire.ConsumeTag(s)
			if n < 0 {
				return fmt.Errorf("decode %T: %w", m, protowire.ParseError(n))
			}
			l := protowire.ConsumeFieldValue(num, typ, s[n:])
			if l < 0 {
				return fmt.Errorf("decode %T: %w", m, protowire.ParseError(l))
			}
			if num == recNum && typ == protowire.BytesType {
				v, _ := protowire.ConsumeBytes(s[n:])
				rec = v[:len(v):len(v)] // the last occurrence wins, as in proto.Unmarshal
			} else {
				body = append(body, s[:n+l]...)
			}
			s = s[n+l:]
		}
		rest = protowire.AppendTag(rest, listNum, protowire.BytesType)
		rest = protowire.AppendBytes(rest, body)
		recs = append(recs, rec)
	}
	if err := proto.Unmarshal(rest, m); err != nil {
		return err
	}
	list := m.ProtoReflect().Get(f.list).List()
	if list.Len() != len(recs) {
		return fmt.Errorf("decode %T: %d partitions decoded, %d seen", m, list.Len(), len(recs))
	}
	for i, rec := range recs {
		if len(rec) > 0 {
			list.Get(i).Message().Set(f.records, protoreflect.ValueOfBytes(rec))
		}
	}
	return nil
}

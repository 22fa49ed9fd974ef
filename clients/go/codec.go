package strata

import (
	"bytes"
	"errors"

	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// consumeCodec is the Consume stream's codec (grpc.ForceCodecV2 on that
// call only): a received message's record batches are sub-slices of one
// copy of the message, instead of a second copy each that proto.Unmarshal
// would make. Everything else is the stock codec's.
type consumeCodec struct{}

var stockCodec = encoding.GetCodecV2(grpcproto.Name)

func (consumeCodec) Name() string { return grpcproto.Name }

func (consumeCodec) Marshal(v any) (mem.BufferSlice, error) { return stockCodec.Marshal(v) }

// The field numbers of ConsumeResponse.records and
// ConsumeRecords.record_batches.
var (
	consumeRecordsField = (&streamv1.ConsumeResponse{}).ProtoReflect().Descriptor().Fields().ByName("records").Number()
	consumeBatchesField = (&streamv1.ConsumeRecords{}).ProtoReflect().Descriptor().Fields().ByName("record_batches").Number()
)

// minAliasBytes is the message size from which aliasing pays for the
// walk over its fields; smaller ones go through the stock codec.
const minAliasBytes = 4 << 10

func (consumeCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*streamv1.ConsumeResponse)
	if !ok || data.Len() < minAliasBytes {
		return stockCodec.Unmarshal(data, v)
	}
	return unmarshalConsume(gather(data), m)
}

// gather copies data into one new buffer, as data.Materialize does but
// without first zeroing it (bytes.Join allocates its result unzeroed).
func gather(data mem.BufferSlice) []byte {
	parts := make([][]byte, len(data))
	for i, b := range data {
		parts[i] = b.ReadOnlyData()
	}
	return bytes.Join(parts, nil)
}

// unmarshalConsume decodes buf into m with the record batches sub-slices
// of buf: every other field is gathered and decoded by proto.Unmarshal,
// which so checks them as it would the whole message.
func unmarshalConsume(buf []byte, m *streamv1.ConsumeResponse) error {
	rest := make([]byte, 0, 256)
	var batches [][]byte
	records := false
	err := eachField(buf, func(num protowire.Number, typ protowire.Type, field []byte) error {
		if num != consumeRecordsField || typ != protowire.BytesType {
			rest = append(rest, field...)
			return nil
		}
		records = true
		body := make([]byte, 0, 64)
		err := eachField(bytesValue(field), func(num protowire.Number, typ protowire.Type, field []byte) error {
			if num == consumeBatchesField && typ == protowire.BytesType {
				v := bytesValue(field)
				batches = append(batches, v[:len(v):len(v)])
			} else {
				body = append(body, field...)
			}
			return nil
		})
		rest = protowire.AppendTag(rest, consumeRecordsField, protowire.BytesType)
		rest = protowire.AppendBytes(rest, body)
		return err
	})
	if err != nil {
		return err
	}
	if err := proto.Unmarshal(rest, m); err != nil {
		return err
	}
	if len(batches) > 0 {
		recs := m.GetRecords()
		if !records || recs == nil {
			return errors.New("consume response: record batches outside its records")
		}
		recs.RecordBatches = append(recs.RecordBatches, batches...)
	}
	return nil
}

// eachField calls fn with each field of the encoded message b: its number,
// its type and its whole encoding (tag and value).
func eachField(b []byte, fn func(protowire.Number, protowire.Type, []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		l := protowire.ConsumeFieldValue(num, typ, b[n:])
		if l < 0 {
			return protowire.ParseError(l)
		}
		if err := fn(num, typ, b[:n+l]); err != nil {
			return err
		}
		b = b[n+l:]
	}
	return nil
}

// bytesValue is the value of a whole length-delimited field.
func bytesValue(field []byte) []byte {
	_, _, n := protowire.ConsumeTag(field)
	v, _ := protowire.ConsumeBytes(field[n:])
	return v
}

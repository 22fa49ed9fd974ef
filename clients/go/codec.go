package strata

import (
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

func (consumeCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*streamv1.ConsumeResponse)
	if !ok || data.Len() < 4<<10 {
		return stockCodec.Unmarshal(data, v)
	}
	return unmarshalConsume(data.Materialize(), m)
}

// unmarshalConsume decodes buf into m with the record batches sub-slices
// of buf: every other field is gathered and decoded by proto.Unmarshal,
// which so checks them as it would the whole message.
func unmarshalConsume(buf []byte, m *streamv1.ConsumeResponse) error {
	rest := make([]byte, 0, 256)
	var batches [][]byte
	records := false
	for b := buf; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		l := protowire.ConsumeFieldValue(num, typ, b[n:])
		if l < 0 {
			return protowire.ParseError(l)
		}
		if num != consumeRecordsField || typ != protowire.BytesType {
			rest = append(rest, b[:n+l]...)
			b = b[n+l:]
			continue
		}
		sub, _ := protowire.ConsumeBytes(b[n:])
		b = b[n+l:]
		records = true
		body := make([]byte, 0, 64)
		for s := sub; len(s) > 0; {
			num, typ, n := protowire.ConsumeTag(s)
			if n < 0 {
				return protowire.ParseError(n)
			}
			l := protowire.ConsumeFieldValue(num, typ, s[n:])
			if l < 0 {
				return protowire.ParseError(l)
			}
			if num == consumeBatchesField && typ == protowire.BytesType {
				v, _ := protowire.ConsumeBytes(s[n:])
				batches = append(batches, v[:len(v):len(v)])
			} else {
				body = append(body, s[:n+l]...)
			}
			s = s[n+l:]
		}
		rest = protowire.AppendTag(rest, consumeRecordsField, protowire.BytesType)
		rest = protowire.AppendBytes(rest, body)
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

package rest

import (
	"bytes"
	"io"
	"strconv"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	restv1 "github.com/strata-io/strata/gen/strata/rest/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// marshaler is proto JSON as grpcurl -emit-defaults writes it (zero values
// present, 64-bit integers as strings), refusing unknown fields so a typo
// in a field name is an error rather than a silently missing value. Three
// shortcuts keep produce cheap: a body is decoded in one protojson pass
// (grpc-gateway's decoder first scans it with encoding/json), its JSON
// values are kept as sent rather than decoded (rawjson.go), and a produce
// answer is written directly, in the same JSON protojson writes.
type marshaler struct {
	runtime.JSONPb
}

func newMarshaler() *marshaler {
	return &marshaler{runtime.JSONPb{
		MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: true},
		UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
	}}
}

// NewDecoder reads the whole body (Handler has bounded it) and decodes it
// as one JSON value: trailing data is an error. An empty body is io.EOF,
// which grpc-gateway takes as no body.
func (m *marshaler) NewDecoder(r io.Reader) runtime.Decoder {
	return runtime.DecoderFunc(func(v any) error {
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(b)) == 0 {
			return io.EOF
		}
		if _, ok := v.(*restv1.ProduceRecordsRequest); ok {
			b = inlineJSON(b) // rawjson.go
		}
		if msg, ok := v.(proto.Message); ok {
			return m.UnmarshalOptions.Unmarshal(b, msg)
		}
		return m.JSONPb.Unmarshal(b, v)
	})
}

// Marshal writes a produce answer directly; everything else as JSONPb.
func (m *marshaler) Marshal(v any) ([]byte, error) {
	resp, ok := v.(*restv1.ProduceRecordsResponse)
	if !ok {
		return m.JSONPb.Marshal(v)
	}
	buf := make([]byte, 0, 16+len(resp.GetResults())*72)
	buf = append(buf, `{"results":[`...)
	for i, r := range resp.GetResults() {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"partition":`...)
		buf = strconv.AppendInt(buf, int64(r.GetPartition()), 10)
		buf = append(buf, `,"offset":"`...)
		buf = strconv.AppendInt(buf, r.GetOffset(), 10)
		buf = append(buf, `","timestampMs":"`...)
		buf = strconv.AppendInt(buf, r.GetTimestampMs(), 10)
		buf = append(buf, `","error":`...)
		if r.GetError() == nil {
			buf = append(buf, "null"...)
		} else {
			e, err := m.MarshalOptions.Marshal(r.GetError())
			if err != nil {
				return nil, err
			}
			buf = append(buf, e...)
		}
		buf = append(buf, '}')
	}
	return append(buf, "]}"...), nil
}

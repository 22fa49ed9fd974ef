package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	restv1 "github.com/strata-io/strata/gen/strata/rest/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/rpc"
	"google.golang.org/protobuf/types/known/structpb"
)

// Records serves strata.rest.v1.RestService: the REST shapes of records
// (keys, values and header values as text, base64 or JSON) turned into
// StreamService calls. It checks its own requests' rules (it is called in
// process, not through the gRPC server); the StreamService call it makes
// is checked again on the gRPC server.
type Records struct {
	restv1.UnimplementedRestServiceServer
	Stream     streamv1.StreamServiceClient
	Partitions func(topic string) (int32, bool)
}

// ProduceRecords converts the records and calls StreamService.Produce,
// which checks them against the topic (count, partitions, header keys,
// timestamps, sizes); the conversion checks what only REST has, that each
// key and value given is in one of the forms.
func (s *Records) ProduceRecords(ctx context.Context, req *restv1.ProduceRecordsRequest) (*restv1.ProduceRecordsResponse, error) {
	if err := rpc.Validate(req); err != nil {
		return nil, err
	}
	out := &streamv1.ProduceRequest{
		Topic:       req.GetTopic(),
		Acks:        req.GetAcks(),
		Timeout:     req.GetTimeout(),
		Compression: req.GetCompression(),
		Records:     make([]*streamv1.ProduceRecord, len(req.GetRecords())),
	}
	for i, r := range req.GetRecords() {
		pr := &streamv1.ProduceRecord{Partition: r.Partition, TimestampMs: r.TimestampMs}
		var err error
		if pr.Key, err = dataBytes(r.Key); err != nil {
			return nil, fieldError(fmt.Sprintf("records[%d].key.kind", i), err)
		}
		if pr.Value, err = dataBytes(r.Value); err != nil {
			return nil, fieldError(fmt.Sprintf("records[%d].value.kind", i), err)
		}
		if len(r.GetHeaders()) > 0 {
			pr.Headers = make([]*streamv1.Header, len(r.GetHeaders()))
		}
		for j, h := range r.GetHeaders() {
			v, err := dataBytes(h.Value)
			if err != nil {
				return nil, fieldError(fmt.Sprintf("records[%d].headers[%d].value.kind", i, j), err)
			}
			pr.Headers[j] = &streamv1.Header{Key: h.GetKey(), Value: v}
		}
		out.Records[i] = pr
	}
	resp, err := s.Stream.Produce(ctx, out)
	if err != nil {
		return nil, err
	}
	return &restv1.ProduceRecordsResponse{Results: resp.GetResults()}, nil
}

// ReadRecords reads one partition with StreamService.Fetch. The
// partition's error (OFFSET_OUT_OF_RANGE, a leader that cannot answer) is
// the call's error here, as there is only one partition.
func (s *Records) ReadRecords(ctx context.Context, req *restv1.ReadRecordsRequest) (*restv1.ReadRecordsResponse, error) {
	if err := rpc.Validate(req); err != nil {
		return nil, err
	}
	p := &streamv1.FetchPartition{Topic: req.GetTopic(), Partition: req.GetPartition()}
	if req.Offset != nil {
		p.Start = &streamv1.FetchPartition_Offset{Offset: req.GetOffset()}
	} else {
		p.Start = &streamv1.FetchPartition_Position{Position: streamv1.LogPosition_LOG_POSITION_EARLIEST}
	}
	resp, err := s.Stream.Fetch(ctx, &streamv1.FetchRequest{
		Partitions: []*streamv1.FetchPartition{p},
		MaxWait:    req.GetMaxWait(),
		MaxBytes:   req.GetMaxBytes(),
		MaxRecords: req.GetMaxRecords(),
	})
	if err != nil {
		return nil, err
	}
	if len(resp.GetPartitions()) != 1 {
		return nil, errs.New(errs.StorageError, "fetch answered %d partitions for 1", len(resp.GetPartitions()))
	}
	part := resp.GetPartitions()[0]
	if d := part.GetError(); d != nil {
		return nil, &errs.Error{Detail: d, Msg: d.GetMessage()}
	}
	format := req.GetFormat()
	out := &restv1.ReadRecordsResponse{
		Records:        make([]*restv1.Record, len(part.GetRecords())),
		NextOffset:     part.GetNextOffset(),
		HighWatermark:  part.GetHighWatermark(),
		LogStartOffset: part.GetLogStartOffset(),
	}
	for i, r := range part.GetRecords() {
		rec := &restv1.Record{
			Offset:        r.GetOffset(),
			TimestampMs:   r.GetTimestampMs(),
			TimestampType: r.GetTimestampType(),
			Key:           toData(r.Key, format),
			Value:         toData(r.Value, format),
		}
		if len(r.GetHeaders()) > 0 {
			rec.Headers = make([]*restv1.RecordHeader, len(r.GetHeaders()))
		}
		for j, h := range r.GetHeaders() {
			rec.Headers[j] = &restv1.RecordHeader{Key: h.GetKey(), Value: toData(h.Value, format)}
		}
		out.Records[i] = rec
	}
	return out, nil
}

// ListTopicOffsets asks StreamService.ListOffsets about every partition of
// the topic the gateway's metadata knows.
func (s *Records) ListTopicOffsets(ctx context.Context, req *restv1.ListTopicOffsetsRequest) (*restv1.ListTopicOffsetsResponse, error) {
	if err := rpc.Validate(req); err != nil {
		return nil, err
	}
	n, ok := s.Partitions(req.GetTopic())
	if !ok {
		return nil, errs.New(errs.UnknownTopicOrPartition, "topic %q does not exist", req.GetTopic()).
			Field("topic", "no such topic")
	}
	at := req.GetAt()
	out := &streamv1.ListOffsetsRequest{Partitions: make([]*streamv1.ListOffsetsPartition, n)}
	for i := range n {
		p := &streamv1.ListOffsetsPartition{Topic: req.GetTopic(), Partition: i}
		switch at {
		case "earliest":
			p.Query = &streamv1.ListOffsetsPartition_Position{Position: streamv1.LogPosition_LOG_POSITION_EARLIEST}
		case "", "latest":
			p.Query = &streamv1.ListOffsetsPartition_Position{Position: streamv1.LogPosition_LOG_POSITION_LATEST}
		default:
			ms, err := strconv.ParseInt(at, 10, 64)
			if err != nil { // the pattern allows only digits; this is a bound check
				return nil, fieldError("at", err)
			}
			p.Query = &streamv1.ListOffsetsPartition_TimestampMs{TimestampMs: ms}
		}
		out.Partitions[i] = p
	}
	resp, err := s.Stream.ListOffsets(ctx, out)
	if err != nil {
		return nil, err
	}
	return &restv1.ListTopicOffsetsResponse{Partitions: resp.GetPartitions()}, nil
}

// dataBytes is the bytes a Data stands for: nil (unset) is nil (null),
// every form is non-nil, even when empty, and a Data without a form is an
// error.
func dataBytes(d *restv1.Data) ([]byte, error) {
	if d == nil {
		return nil, nil
	}
	switch k := d.GetKind().(type) {
	case nil:
		return nil, errors.New("exactly one of text, binary and json is required")
	case *restv1.Data_Text:
		return append([]byte{}, k.Text...), nil
	case *restv1.Data_Binary:
		if k.Binary == nil {
			return []byte{}, nil
		}
		return k.Binary, nil
	case *restv1.Data_Json:
		return jsonBytes(k.Json)
	default:
		return nil, fmt.Errorf("unknown data kind %T", k)
	}
}

// jsonBytes encodes a JSON value compactly: object keys sorted (as
// encoding/json does), no HTML escaping, no trailing newline. Produce
// bodies keep their JSON values as sent (rawjson.go); this is for one the
// scan could not take (a member name written with escapes, say).
func jsonBytes(v *structpb.Value) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v.AsInterface()); err != nil {
		return nil, fmt.Errorf("encoding the JSON value: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// toData returns b in the asked format ("binary" by default): with
// "json", a datum that is not JSON falls back to text, and with "text" or
// "json" one that is not UTF-8 falls back to binary. nil (null) is nil.
func toData(b []byte, format string) *restv1.Data {
	if b == nil {
		return nil
	}
	if format == "json" && json.Valid(b) {
		v := &structpb.Value{}
		if err := v.UnmarshalJSON(b); err == nil {
			return &restv1.Data{Kind: &restv1.Data_Json{Json: v}}
		}
	}
	if (format == "text" || format == "json") && utf8.Valid(b) {
		return &restv1.Data{Kind: &restv1.Data_Text{Text: string(b)}}
	}
	return &restv1.Data{Kind: &restv1.Data_Binary{Binary: b}}
}

func fieldError(field string, err error) *errs.Error {
	return errs.New(errs.InvalidRequest, "%s: %v", field, err).Field(field, err.Error())
}

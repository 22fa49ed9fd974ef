package rpc

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"

	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	"github.com/strata-io/strata/internal/errs"
)

// reached records that a request got past validation.
type reached struct {
	streamv1.UnimplementedStreamServiceServer
	calls chan string
}

func (r reached) Fetch(context.Context, *streamv1.FetchRequest) (*streamv1.FetchResponse, error) {
	r.calls <- "fetch"
	return &streamv1.FetchResponse{}, nil
}

func (r reached) Consume(stream grpc.BidiStreamingServer[streamv1.ConsumeRequest, streamv1.ConsumeResponse]) error {
	for {
		if _, err := stream.Recv(); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		r.calls <- "consume"
	}
}

func serveValidated(t *testing.T) (streamv1.StreamServiceClient, chan string) {
	t.Helper()
	srv := NewServer(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), WithValidation())
	calls := make(chan string, 16)
	streamv1.RegisterStreamServiceServer(srv.Server, reached{calls: calls})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(srv.Server.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return streamv1.NewStreamServiceClient(conn), calls
}

func wantViolation(t *testing.T, what string, err error, field string) {
	t.Helper()
	e := errs.From(err)
	switch {
	case err == nil:
		t.Errorf("%s: accepted", what)
	case e == nil || e.GRPCStatus().Code() != codes.InvalidArgument || e.Code() != errs.InvalidRequest:
		t.Errorf("%s: %v, want INVALID_ARGUMENT with INVALID_REQUEST", what, err)
	case len(e.Detail.GetFieldViolations()) == 0 || e.Detail.GetFieldViolations()[0].GetField() != field:
		t.Errorf("%s: violations %v, want the first naming %q", what, e.Detail.GetFieldViolations(), field)
	}
}

func TestValidationRefusesBadRequestsBeforeTheHandler(t *testing.T) {
	client, calls := serveValidated(t)
	ctx := context.Background()
	at := func(offset int64) *streamv1.FetchPartition {
		return &streamv1.FetchPartition{Topic: "t", Start: &streamv1.FetchPartition_Offset{Offset: offset}}
	}
	for _, tc := range []struct {
		name  string
		req   *streamv1.FetchRequest
		field string
	}{
		{"no partitions", &streamv1.FetchRequest{}, "partitions"},
		{"negative offset", &streamv1.FetchRequest{Partitions: []*streamv1.FetchPartition{at(0), at(-1)}}, "partitions[1].offset"},
		{"no start", &streamv1.FetchRequest{Partitions: []*streamv1.FetchPartition{{Topic: "t"}}}, "partitions[0].start"},
		{"unspecified position", &streamv1.FetchRequest{Partitions: []*streamv1.FetchPartition{{Topic: "t",
			Start: &streamv1.FetchPartition_Position{}}}}, "partitions[0].position"},
		{"max wait too long", &streamv1.FetchRequest{Partitions: []*streamv1.FetchPartition{at(0)}, MaxWait: durationpb.New(1e12)}, "max_wait"},
		{"max bytes too large", &streamv1.FetchRequest{Partitions: []*streamv1.FetchPartition{at(0)}, MaxBytes: 1 << 30}, "max_bytes"},
	} {
		_, err := client.Fetch(ctx, tc.req)
		wantViolation(t, tc.name, err, tc.field)
	}
	if len(calls) != 0 {
		t.Fatalf("%d invalid requests reached the handler", len(calls))
	}
	if _, err := client.Fetch(ctx, &streamv1.FetchRequest{Partitions: []*streamv1.FetchPartition{at(0)}}); err != nil {
		t.Fatalf("valid request: %v", err)
	}
	if got := <-calls; got != "fetch" {
		t.Fatalf("handler saw %q", got)
	}
}

func TestValidationEndsAStreamOnABadMessage(t *testing.T) {
	client, calls := serveValidated(t)
	stream, err := client.Consume(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	credit := func(records int64) *streamv1.ConsumeRequest {
		return &streamv1.ConsumeRequest{Message: &streamv1.ConsumeRequest_Credit{Credit: &streamv1.ConsumeCredit{Records: records}}}
	}
	if err := stream.Send(credit(10)); err != nil {
		t.Fatal(err)
	}
	if got := <-calls; got != "consume" {
		t.Fatalf("handler saw %q", got)
	}
	if err := stream.Send(credit(-1)); err != nil {
		t.Fatal(err)
	}
	_, err = stream.Recv()
	wantViolation(t, "negative credit", err, "credit.records")
}

func TestValidateNamesNestedFields(t *testing.T) {
	open := &streamv1.ProduceStreamRequest{Message: &streamv1.ProduceStreamRequest_Open{Open: &streamv1.ProduceStreamOpen{
		Topic: "t", Timeout: durationpb.New(-1)}}}
	if e := Validate(open); e == nil || len(e.Detail.GetFieldViolations()) != 1 || e.Detail.GetFieldViolations()[0].GetField() != "open.timeout" {
		t.Fatalf("Validate = %v, want one violation of open.timeout", e)
	}
	consume := &streamv1.ConsumeRequest{Message: &streamv1.ConsumeRequest_Open{Open: &streamv1.ConsumeOpen{
		GroupId: "g", Topics: []string{"t"}, Assignors: []string{"cooperative-sticky", "sticky"}}}}
	if e := Validate(consume); e == nil || e.Detail.GetFieldViolations()[0].GetField() != "open.assignors[1]" {
		t.Fatalf("unknown assignor: %v", e)
	}
	// Records are the handler's to check, in its one pass over them.
	b := &streamv1.ProduceStreamBatch{Records: []*streamv1.ProduceRecord{{Headers: []*streamv1.Header{{}}}}}
	if e := Validate(b); e != nil {
		t.Fatalf("batch: %v", e)
	}
}

// BenchmarkValidateBatch shows that checking a 500-record batch costs
// next to nothing (protovalidate does not walk the records).
func BenchmarkValidateBatch(b *testing.B) {
	batch := &streamv1.ProduceStreamBatch{}
	for range 500 {
		batch.Records = append(batch.Records, &streamv1.ProduceRecord{Value: make([]byte, 1024), Headers: []*streamv1.Header{{Key: "k"}}})
	}
	for b.Loop() {
		if e := Validate(batch); e != nil {
			b.Fatal(e)
		}
	}
}

package errs

import (
	"fmt"
	"testing"

	commonv1 "github.com/strata-io/strata/api/strata/common/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestEveryCodeIsInTheTable(t *testing.T) {
	for code := range commonv1.ErrorCode_name {
		if _, ok := table[Code(code)]; !ok {
			t.Errorf("code %v has no table entry", Code(code))
		}
	}
}

func TestDetailSurvivesTheWire(t *testing.T) {
	orig := New(NotLeaderOrFollower, "node 3 does not lead orders-1").
		WithLeader(&commonv1.LeaderHint{Topic: "orders", Partition: 1, LeaderId: 2, LeaderEpoch: 7})
	// What a gRPC client receives: a status rebuilt from its proto form.
	received := status.ErrorProto(orig.GRPCStatus().Proto())
	if status.Code(received) != codes.Unavailable { // retriable, as the leader moved
		t.Fatalf("grpc code = %v", status.Code(received))
	}
	got := From(fmt.Errorf("produce: %w", received))
	if got == nil || got.Code() != NotLeaderOrFollower || got.KafkaCode() != 6 {
		t.Fatalf("From = %+v", got)
	}
	if l := got.Detail.GetLeader(); l.GetLeaderId() != 2 || l.GetLeaderEpoch() != 7 {
		t.Fatalf("leader hint = %+v", l)
	}
	if !got.Detail.GetRetriable() {
		t.Fatal("not-leader must be retriable")
	}
}

type kafkaErr int16

func (k kafkaErr) Error() string    { return "engine error" }
func (k kafkaErr) KafkaCode() int16 { return int16(k) }

func TestFromKafka(t *testing.T) {
	for kafka, want := range map[int16]Code{1: OffsetOutOfRange, 2: CorruptMessage, 10: MessageTooLarge, 87: InvalidRecord, 7: RequestTimedOut, 9999: StorageError} {
		got := FromKafka(fmt.Errorf("append: %w", kafkaErr(kafka)))
		if got.Code() != want {
			t.Errorf("Kafka %d → %v, want %v", kafka, got.Code(), want)
		}
	}
	if FromKafka(fmt.Errorf("plain")).Code() != StorageError {
		t.Error("an error without a Kafka code must be a storage error")
	}
}

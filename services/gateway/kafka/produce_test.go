package kafka

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"testing"

	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A transactional batch without a transactional id fails the whole request
// with TRANSACTIONAL_ID_AUTHORIZATION_FAILED, as in Kafka, and reaches no
// storage node.
func TestProduceRefusesTransactionalRecords(t *testing.T) {
	calls := 0
	s := benchServer(t, "txn", 2, &stubStorage{produce: func(*storagev1.ProduceRequest) { calls++ }})
	txn := recordBatch(3, 10)
	binary.BigEndian.PutUint16(txn[21:], 0x10) // transactional attribute
	binary.BigEndian.PutUint32(txn[17:], crc32.Checksum(txn[21:], crc32.MakeTable(crc32.Castagnoli)))
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks, req.TimeoutMillis = -1, 5000
	req.Topics = []kmsg.ProduceRequestTopic{{Topic: "txn", Partitions: []kmsg.ProduceRequestTopicPartition{
		{Partition: 0, Records: recordBatch(1, 10)},
		{Partition: 1, Records: append(recordBatch(1, 10), txn...)},
	}}}
	r, err := parseRequest(frame(req, 1))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.dispatch(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range resp.(*kmsg.ProduceResponse).Topics[0].Partitions {
		if p.ErrorCode != kerr.TransactionalIDAuthorizationFailed.Code {
			t.Errorf("partition %d: code %d, want %d", p.Partition, p.ErrorCode, kerr.TransactionalIDAuthorizationFailed.Code)
		}
	}
	if calls != 0 {
		t.Fatalf("%d storage calls for a refused request", calls)
	}
}

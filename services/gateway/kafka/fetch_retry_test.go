package kafka

import (
	"context"
	"sync"
	"testing"

	commonv1 "github.com/strata-io/strata/api/strata/common/v1"
	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A storage node that no longer leads a partition refuses the Fetch with
// NOT_LEADER_OR_FOLLOWER and names the new leader: the gateway asks the new
// leader once more, so a client that sent no leader epoch gets the records;
// one that sent the old epoch gets FENCED_LEADER_EPOCH, as from Kafka.
func TestFetchRetriesTheNewLeader(t *testing.T) {
	batch := recordBatch(3, 10)
	for _, tc := range []struct {
		name  string
		epoch int32
		code  int16
		recs  bool
	}{
		{"no leader epoch", -1, 0, true},
		{"old leader epoch", 1, kerr.FencedLeaderEpoch.Code, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			calls := map[string]int{}
			st := &stubStorage{fetch: func(addr string, in *storagev1.FetchRequest) (*storagev1.FetchResponse, error) {
				mu.Lock()
				calls[addr]++
				mu.Unlock()
				out := &storagev1.FetchResponse{}
				for _, p := range in.GetPartitions() {
					res := &storagev1.FetchPartitionResult{Topic: p.GetTopic(), Partition: p.GetPartition(), HighWatermark: 3}
					if addr == "storage-1:7000" { // partition 0's old leader
						res.Error = &commonv1.ErrorDetail{Code: errs.NotLeaderOrFollower, KafkaErrorCode: int32(kerr.NotLeaderForPartition.Code),
							Leader: &commonv1.LeaderHint{LeaderId: 2, LeaderEpoch: 2, LeaderAddress: "storage-2:7000"}}
					} else {
						res.Records = batch
					}
					out.Partitions = append(out.Partitions, res)
				}
				return out, nil
			}}
			s := benchServer(t, "t", 1, st)
			req := kmsg.NewPtrFetchRequest()
			req.SetVersion(12)
			req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 500, 1, 1<<20
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = "t"
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.CurrentLeaderEpoch, rp.PartitionMaxBytes = 0, tc.epoch, 1<<20
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			r, err := parseRequest(frame(req, 1))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := s.dispatch(context.Background(), r)
			if err != nil {
				t.Fatal(err)
			}
			p := resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]
			if p.ErrorCode != tc.code || (len(p.RecordBatches) > 0) != tc.recs {
				t.Fatalf("code %d, %d bytes of records; want code %d, records %v", p.ErrorCode, len(p.RecordBatches), tc.code, tc.recs)
			}
			want := map[string]int{"storage-1:7000": 1}
			if tc.recs {
				want["storage-2:7000"] = 1
			}
			if len(calls) != len(want) || calls["storage-1:7000"] != 1 || calls["storage-2:7000"] != want["storage-2:7000"] {
				t.Fatalf("storage calls %v, want %v", calls, want)
			}
		})
	}
}

package kafka

import (
	"context"
	"sync"
	"testing"
	"time"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/services/gateway/router"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"google.golang.org/grpc"
)

// adminStub records CreateTopic calls and answers them with a topic of
// the asked partitions (or as many as the assignments).
type adminStub struct {
	adminv1.AdminServiceClient
	mu    sync.Mutex
	calls []*adminv1.CreateTopicRequest
}

func (a *adminStub) CreateTopic(_ context.Context, in *adminv1.CreateTopicRequest, _ ...grpc.CallOption) (*adminv1.CreateTopicResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, in)
	n := in.GetPartitions()
	if len(in.GetAssignments()) > 0 {
		n = int32(len(in.GetAssignments()))
	}
	return &adminv1.CreateTopicResponse{Topic: &adminv1.Topic{Name: in.GetName(), PartitionCount: n, ReplicationFactor: 1}}, nil
}

// neverReady is a storage node whose leaders never take up leadership.
type neverReady struct{ stubStorage }

func (n *neverReady) Client(string) (storagev1.StorageServiceClient, error) {
	return neverReadyClient{}, nil
}

type neverReadyClient struct{ storagev1.StorageServiceClient }

func (neverReadyClient) ListOffsets(_ context.Context, in *storagev1.ListOffsetsRequest, _ ...grpc.CallOption) (*storagev1.ListOffsetsResponse, error) {
	out := &storagev1.ListOffsetsResponse{}
	for _, p := range in.GetPartitions() {
		out.Partitions = append(out.Partitions, &storagev1.ListOffsetsPartitionResult{Topic: p.GetTopic(), Partition: p.GetPartition(),
			Error: errs.New(errs.NotLeaderOrFollower, "not yet").Detail})
	}
	return out, nil
}

func createTopics(t *testing.T, s *Server, timeoutMs int32, topics ...kmsg.CreateTopicsRequestTopic) (*kmsg.CreateTopicsResponse, time.Duration) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.SetVersion(7)
	req.TimeoutMillis, req.Topics = timeoutMs, topics
	r, err := parseRequest(frame(req, 1))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	resp, err := s.dispatch(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return resp.(*kmsg.CreateTopicsResponse), time.Since(start)
}

func newTopic(name string, parts int32, rf int16, assign ...[]int32) kmsg.CreateTopicsRequestTopic {
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, parts, rf
	for i, reps := range assign {
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, kmsg.CreateTopicsRequestTopicReplicaAssignment{Partition: int32(i), Replicas: reps})
	}
	return rt
}

func TestCreateTopicsRequestRules(t *testing.T) {
	admin := &adminStub{}
	// The cache has topic "t" with 3 partitions, which never get ready.
	s := benchServer(t, "t", 3, nil)
	s.router = router.New(s.d.Cache, &neverReady{}, nil)
	s.d.Admin = admin

	resp, _ := createTopics(t, s, 0, newTopic("x", 1, 1), newTopic("y", 1, 1), newTopic("x", 2, 1),
		newTopic("both", 2, -1, []int32{1}, []int32{2}), newTopic("manual", -1, -1, []int32{3, 1}, []int32{1, 2}))
	want := []int16{kerr.InvalidRequest.Code, 0, kerr.InvalidRequest.Code, kerr.InvalidRequest.Code, 0}
	for i, rt := range resp.Topics {
		if rt.ErrorCode != want[i] {
			t.Errorf("%s: error %d, want %d", rt.Topic, rt.ErrorCode, want[i])
		}
	}
	if len(admin.calls) != 2 || admin.calls[0].GetName() != "y" || admin.calls[1].GetName() != "manual" {
		t.Fatalf("admin calls %v, want y and manual only", admin.calls)
	}
	m := admin.calls[1]
	if m.GetPartitions() != 0 || m.GetReplicationFactor() != 0 || len(m.GetAssignments()) != 2 ||
		m.GetAssignments()[1].GetPartition() != 1 || m.GetAssignments()[0].GetReplicas()[0] != 3 {
		t.Fatalf("manual assignment sent as %v", m)
	}
	if resp.Topics[4].NumPartitions != 2 {
		t.Fatalf("manual topic answered with %d partitions", resp.Topics[4].NumPartitions)
	}

	// timeout 0 answers at once; a timeout that passes before the leaders
	// are ready is REQUEST_TIMED_OUT.
	if resp, took := createTopics(t, s, 0, newTopic("t", 3, 1)); resp.Topics[0].ErrorCode != 0 || took > time.Second {
		t.Fatalf("timeout 0: error %d after %v", resp.Topics[0].ErrorCode, took)
	}
	resp, took := createTopics(t, s, 300, newTopic("t", 3, 1))
	if resp.Topics[0].ErrorCode != kerr.RequestTimedOut.Code || took < 300*time.Millisecond || took > 5*time.Second {
		t.Fatalf("leaders never ready: error %d after %v, want REQUEST_TIMED_OUT after 300 ms", resp.Topics[0].ErrorCode, took)
	}
}

package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	commonv1 "github.com/strata-io/strata/api/strata/common/v1"
	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/codec"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/testutil"
)

// nodeEpochs reads every storage node's registration epoch from the
// controller's metadata stream, as any process that reaches it can.
func nodeEpochs(t *testing.T, c *cluster) map[int32]int64 {
	t.Helper()
	conn, err := dialRole(c.controllers[0].grpc)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := controllerv1.NewControllerServiceClient(conn).WatchMetadata(ctx, &controllerv1.WatchMetadataRequest{})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	for _, r := range snap.GetUpserts() {
		if n := r.GetStorageNode(); n != nil {
			out[n.GetNodeId()] = n.GetNodeEpoch()
		}
	}
	return out
}

// forge sends one replica fetch on its own stream and returns the
// per-partition error code, or the stream's error.
func forge(ctx context.Context, client storagev1.StorageServiceClient, req *storagev1.ReplicateRequest) (commonv1.ErrorCode, error) {
	stream, err := client.Replicate(ctx)
	if err != nil {
		return 0, err
	}
	defer func() { _ = stream.CloseSend() }()
	if err := stream.Send(req); err != nil {
		return 0, err
	}
	resp, err := stream.Recv()
	if err != nil {
		return 0, err
	}
	return resp.GetPartitions()[0].GetError().GetCode(), nil
}

// A process that can reach a storage node cannot pose as a follower with an
// offset past the leader's log end, another node epoch, id -1 or a node
// outside the replica set; and while the real followers are frozen, such
// forgeries never get an acks=all produce acknowledged.
func TestForgedReplicaFetchesAreRefused(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 4})
	c.admin("topic", "create", "guarded", "--partitions", "1", "--replication-factor", "3", "--config", "min.insync.replicas=2")
	rn := nodesByID(t, c)
	waitFullISR(t, c, "guarded", 3)
	p, err := describePartition(t, c, "guarded", 0)
	if err != nil {
		t.Fatal(err)
	}
	leader := rn.clients[p.Leader]
	epochs := nodeEpochs(t, c)
	var followers []int32
	var outsider int32 = -1
	for id := range rn.byID {
		switch {
		case id == p.Leader:
		case slices.Contains(p.Replicas, id):
			followers = append(followers, id)
		default:
			outsider = id
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := rn.clients[p.Leader].Produce(ctx, &storagev1.ProduceRequest{Acks: storagev1.Acks_ACKS_ALL, TimeoutMs: 10000,
		Partitions: []*storagev1.ProducePartition{{Topic: "guarded", Partition: 0, Records: batchOf(t, codec.None, "first", 5, 1)}}})
	if err != nil || res.GetPartitions()[0].GetError() != nil {
		t.Fatalf("first produce: %v %v", err, res.GetPartitions()[0].GetError())
	}
	logEnd := int64(5)

	fetchAs := func(id int32, epoch int64, offset int64) *storagev1.ReplicateRequest {
		return &storagev1.ReplicateRequest{FollowerId: id, FollowerEpoch: epoch, MaxWaitMs: 10, MaxBytes: 1 << 20,
			Partitions: []*storagev1.ReplicaFetchPartition{{Topic: "guarded", Partition: 0, FetchOffset: offset, LeaderEpoch: p.LeaderEpoch, MaxBytes: 1 << 20}}}
	}
	forgeries := []struct {
		name     string
		req      *storagev1.ReplicateRequest
		wantCode commonv1.ErrorCode // per partition, or 0 for a refused stream
		wantErr  errs.Code
	}{
		{"an offset past the log end", fetchAs(followers[0], epochs[followers[0]], logEnd+1000), commonv1.ErrorCode_ERROR_CODE_OFFSET_OUT_OF_RANGE, 0},
		{"a huge node epoch", fetchAs(followers[0], 1<<62, logEnd), 0, errs.StaleEpoch},
		{"an old node epoch", fetchAs(followers[0], epochs[followers[0]]-1, logEnd), 0, errs.StaleEpoch},
		{"follower id -1", fetchAs(-1, 0, logEnd), 0, errs.UnknownMember},
		{"a node outside the replica set", fetchAs(outsider, epochs[outsider], logEnd), commonv1.ErrorCode_ERROR_CODE_NOT_LEADER_OR_FOLLOWER, 0},
		{"the leader itself", fetchAs(p.Leader, epochs[p.Leader], logEnd), commonv1.ErrorCode_ERROR_CODE_NOT_LEADER_OR_FOLLOWER, 0},
	}
	check := func() {
		t.Helper()
		for _, f := range forgeries {
			code, err := forge(ctx, leader, f.req)
			switch {
			case f.wantErr != 0 && !errs.Is(err, f.wantErr):
				t.Errorf("%s: stream error %v, want %v", f.name, err, f.wantErr)
			case f.wantErr == 0 && err != nil:
				t.Errorf("%s: stream error %v, want partition error %v", f.name, err, f.wantCode)
			case f.wantErr == 0 && code != f.wantCode:
				t.Errorf("%s: partition error %v, want %v", f.name, code, f.wantCode)
			}
		}
	}
	check()

	// Freeze both real followers; keep forging while an acks=all produce
	// waits: it must not be acknowledged.
	for _, id := range followers {
		rn.byID[id].pause()
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, f := range forgeries {
				_, _ = forge(ctx, leader, f.req)
			}
		}
	}()
	res, err = leader.Produce(ctx, &storagev1.ProduceRequest{Acks: storagev1.Acks_ACKS_ALL, TimeoutMs: 1500,
		Partitions: []*storagev1.ProducePartition{{Topic: "guarded", Partition: 0, Records: batchOf(t, codec.None, "frozen", 5, 2)}}})
	close(stop)
	<-done
	if err == nil && res.GetPartitions()[0].GetError() == nil {
		t.Fatal("an acks=all produce was acknowledged while both followers were frozen")
	}
	if hw := readReplicaHW(ctx, t, leader, "guarded"); hw != logEnd {
		t.Fatalf("high watermark %d with frozen followers, want %d", hw, logEnd)
	}
	check()
}

// readReplicaHW is the leader's high watermark of partition 0.
func readReplicaHW(ctx context.Context, t *testing.T, client storagev1.StorageServiceClient, topic string) int64 {
	t.Helper()
	res, err := fetch(ctx, client, topic, 0, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return res.GetHighWatermark()
}

// waitFullISR waits until partition 0 of topic has n in-sync replicas.
func waitFullISR(t *testing.T, c *cluster, topic string, n int) {
	t.Helper()
	testutil.WaitFor(t, 30*time.Second, func() error {
		p, err := describePartition(t, c, topic, 0)
		if err != nil {
			return err
		}
		if len(p.ISR) != n || p.Leader < 0 {
			return fmt.Errorf("ISR %v, leader %d; want %d in sync", p.ISR, p.Leader, n)
		}
		return nil
	})
}

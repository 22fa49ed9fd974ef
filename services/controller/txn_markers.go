package controller

import (
	"context"
	"time"

	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/rpc"
	"github.com/strata-io/strata/services/controller/mdstore"
	"github.com/strata-io/strata/services/controller/txn"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// markerTimeout bounds one WriteTxnMarkers call to a storage leader.
const markerTimeout = 15 * time.Second

// txnMarkers sends the transaction coordinator's markers to the storage
// leader of each partition, as the metadata in etcd names it; a leader
// that moved answers NOT_LEADER_OR_FOLLOWER and the coordinator retries.
type txnMarkers struct {
	c     *Controller
	conns rpc.Pool
}

var markerTypes = map[txn.MarkerType]storagev1.TxnMarkerType{
	txn.MarkerBegin:  storagev1.TxnMarkerType_TXN_MARKER_TYPE_BEGIN,
	txn.MarkerCommit: storagev1.TxnMarkerType_TXN_MARKER_TYPE_COMMIT,
	txn.MarkerAbort:  storagev1.TxnMarkerType_TXN_MARKER_TYPE_ABORT,
}

// WriteMarkers implements txn.Markers: one call per leader, in parallel.
func (m *txnMarkers) WriteMarkers(ctx context.Context, ms []txn.Marker) []error {
	out := make([]error, len(ms))
	byLeader := map[string][]int{}
	for i, mk := range ms {
		addr, err := m.leaderAddr(ctx, mk.Topic, mk.Partition)
		if err != nil {
			out[i] = err
			continue
		}
		byLeader[addr] = append(byLeader[addr], i)
	}
	done := make(chan struct{}, len(byLeader))
	for addr, idx := range byLeader {
		go func() {
			defer func() { done <- struct{}{} }()
			req := &storagev1.WriteTxnMarkersRequest{TimeoutMs: int32(markerTimeout / time.Millisecond)}
			for _, i := range idx {
				mk := ms[i]
				req.Markers = append(req.Markers, &storagev1.TxnMarker{Topic: mk.Topic, Partition: mk.Partition, ProducerId: mk.ProducerID,
					ProducerEpoch: int32(mk.ProducerEpoch), Type: markerTypes[mk.Type]})
			}
			conn, err := m.conns.Get(addr)
			if err != nil {
				for _, i := range idx {
					out[i] = errs.New(errs.LeaderNotAvailable, "dialing storage leader %s: %v", addr, err)
				}
				return
			}
			cctx, cancel := context.WithTimeout(ctx, markerTimeout+5*time.Second)
			defer cancel()
			resp, err := storagev1.NewStorageServiceClient(conn).WriteTxnMarkers(cctx, req)
			for k, i := range idx {
				switch {
				case err != nil:
					out[i] = errs.New(errs.LeaderNotAvailable, "transaction markers to %s: %v", addr, err)
				case k >= len(resp.GetResults()):
					out[i] = errs.New(errs.LeaderNotAvailable, "storage leader %s answered %d of %d markers", addr, len(resp.GetResults()), len(idx))
				case resp.GetResults()[k].GetError() != nil:
					d := resp.GetResults()[k].GetError()
					out[i] = &errs.Error{Detail: d, Msg: d.GetMessage()}
				}
			}
		}()
	}
	for range byLeader {
		<-done
	}
	return out
}

func (m *txnMarkers) leaderAddr(ctx context.Context, topic string, partition int32) (string, error) {
	resp, err := m.c.cli.Get(ctx, mdstore.PartitionKey(topic, partition))
	if err != nil {
		return "", readErr(err)
	}
	if len(resp.Kvs) == 0 {
		return "", errs.New(errs.UnknownTopicOrPartition, "partition %s-%d does not exist", topic, partition)
	}
	p := &metadatav1.PartitionRecord{}
	if err := mdstore.Unmarshal(resp.Kvs[0].Value, p); err != nil {
		return "", errs.New(errs.StorageError, "partition %s-%d: %v", topic, partition, err)
	}
	if p.GetLeader() < 0 {
		return "", errs.New(errs.LeaderNotAvailable, "partition %s-%d has no leader", topic, partition)
	}
	nresp, err := m.c.cli.Get(ctx, mdstore.NodeKey(p.GetLeader()))
	if err != nil {
		return "", readErr(err)
	}
	if len(nresp.Kvs) == 0 {
		return "", errs.New(errs.LeaderNotAvailable, "storage node %d is not registered", p.GetLeader())
	}
	n := &metadatav1.StorageNodeRecord{}
	if err := mdstore.Unmarshal(nresp.Kvs[0].Value, n); err != nil {
		return "", errs.New(errs.StorageError, "storage node %d: %v", p.GetLeader(), err)
	}
	return n.GetAddress(), nil
}

// PartitionExists implements txn.Topics.
func (m *txnMarkers) PartitionExists(ctx context.Context, topic string, partition int32) (bool, error) {
	if topic == "" || partition < 0 {
		return false, nil
	}
	resp, err := m.c.cli.Get(ctx, mdstore.PartitionKey(topic, partition), clientv3CountOnly())
	if err != nil {
		return false, readErr(err)
	}
	return resp.Count > 0, nil
}

func clientv3CountOnly() clientv3.OpOption { return clientv3.WithCountOnly() }

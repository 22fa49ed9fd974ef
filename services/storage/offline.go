package storage

import (
	"context"
	"encoding/hex"
	"log/slog"
	"slices"
	"time"

	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
)

// Offline replicas (Kafka's log-directory failure, KIP-112). A replica
// whose log fails goes offline on this node only; the node keeps serving
// its healthy replicas and reports the offline ones to the controller,
// which moves their leadership to an in-sync replica and takes them out of
// the ISR. A replica that opens again (after a restart, or a retried open
// once space is free) is reported online and rejoins the ISR by catching up.

// reportRetry is the pause between attempts while a report fails, and the
// period at which states are compared with the metadata again.
const reportRetry = time.Second

// The Node is each replica's host.
func (n *Node) registration() (int32, int64) {
	reg := n.Member.Registration()
	return reg.ID, reg.Epoch
}

func (n *Node) controller() controllerv1.ControllerServiceClient {
	return controllerv1.NewControllerServiceClient(n.Conn)
}

func (n *Node) context() context.Context { return n.Context() }

func (n *Node) logger() *slog.Logger { return n.Log }

func (n *Node) isrChanged(direction string) { n.metrics.isrChanges.WithLabelValues(direction).Inc() }

func (n *Node) replicaFailed(*replica) { n.stateChanged.fire() }

// wanted says whether metadata still wants a replica directory on this
// node: its topic exists with the same id and lists this node. Only a "no"
// from metadata deletes data.
func (n *Node) wanted(topic string, partition int32, topicID string) bool {
	if !n.cache.Complete() {
		return true // a partial view proves no deletion
	}
	t, ok := n.cache.Topic(topic)
	if !ok {
		return false // the topic was deleted
	}
	if topicID != "" && hex.EncodeToString(t.GetTopicId()) != topicID {
		return false // an older incarnation of the topic
	}
	rec, ok := n.cache.Partition(topic, partition)
	if !ok {
		return true
	}
	return slices.Contains(rec.GetReplicas(), n.id())
}

// reportReplicaStates tells the controller about every replica whose
// health differs from what the metadata says, until they agree.
func (n *Node) reportReplicaStates(ctx context.Context) {
	for {
		changed := n.stateChanged.ch()
		offline := 0
		var states []*controllerv1.ReplicaState
		for _, r := range n.parts.all() {
			isOffline := r.offline.Load() != nil
			if isOffline {
				offline++
			}
			rec, ok := n.cache.Partition(r.key.topic, r.key.partition)
			if !ok || hex.EncodeToString(rec.GetTopicId()) != r.topicID {
				continue
			}
			if isOffline != isOfflineIn(rec, n.id()) {
				states = append(states, r.state(rec.GetTopicId()))
			}
		}
		n.metrics.offline.Set(float64(offline))
		if len(states) > 0 {
			id, epoch := n.registration()
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := n.controller().ReportReplicaStates(rctx, &controllerv1.ReportReplicaStatesRequest{NodeId: id, NodeEpoch: epoch, Replicas: states})
			cancel()
			if err != nil && ctx.Err() == nil {
				n.Log.Warn("reporting replica states failed; retrying", "replicas", len(states), "err", err)
			}
		}
		wait := time.After(reportRetry)
		if len(states) == 0 {
			wait = nil // nothing to tell until something changes
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-wait:
		}
	}
}

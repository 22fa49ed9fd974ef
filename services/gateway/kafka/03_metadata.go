package kafka

// Metadata, versions 0–12. Brokers are the live gateways (their advertised
// Kafka addresses); each partition's leader is a gateway chosen by
// gatewayFor, and any gateway serves any partition. Replicas and ISR list
// gateways too (as many as the replication factor, at most every gateway);
// so do offline replicas (as many as the storage replicas reported offline
// after a storage fault, taken from the end of the replica list), and the
// leader epoch is the storage leader's, which clients use to fence
// stale fetches. A missing topic gets UNKNOWN_TOPIC_OR_PARTITION unless
// auto.create.topics.enable is on (and the client allows it), in which
// case it is created and answered LEADER_NOT_AVAILABLE until it appears.
// A topic this gateway's metadata lacks is first looked up on the
// controller, and awaited briefly if it exists there (a topic just created
// through another gateway), so every gateway answers what the controller
// holds.
// v10+ topic ids are returned; lookup by topic id (v12) is served from the
// cache.

import (
	"context"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	"github.com/strata-io/strata/internal/acl"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/topicconfig"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(3, 0, 12, handleMetadata) }

func handleMetadata(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	brokers := s.brokers(ctx)
	for _, b := range brokers {
		resp.Brokers = append(resp.Brokers, kmsg.MetadataResponseBroker{NodeID: b.id, Host: b.host, Port: b.port})
	}
	resp.ClusterID = &s.d.ClusterID
	resp.ControllerID = s.d.NodeID
	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if all {
		for _, t := range s.d.Cache.Topics() {
			resp.Topics = append(resp.Topics, s.topicMetadata(t, brokers))
		}
		return resp, nil
	}
	autoCreate := s.cfg.AutoCreateTopics && (req.Version < 4 || req.AllowAutoTopicCreation)
	// A topic this gateway does not know may be new: catch up with the
	// controller before answering that it is missing.
	var unknown []string
	for _, rt := range req.Topics {
		if rt.Topic != nil && topicconfig.ValidateName(*rt.Topic) == nil {
			if _, ok := s.d.Cache.Topic(*rt.Topic); !ok {
				unknown = append(unknown, *rt.Topic)
			}
		}
	}
	s.router.CatchUp(ctx, unknown)
	for _, rt := range req.Topics {
		var t *metadatav1.TopicRecord
		name := ""
		if rt.Topic != nil {
			name = *rt.Topic
			t, _ = s.d.Cache.Topic(name)
		} else {
			t = s.topicByID(rt.TopicID)
		}
		if t != nil {
			resp.Topics = append(resp.Topics, s.topicMetadata(t, brokers))
			continue
		}
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic, mt.TopicID = rt.Topic, rt.TopicID
		mt.ErrorCode = errUnknownTopicOrPartition
		if name != "" && topicconfig.ValidateName(name) != nil {
			mt.ErrorCode = kerr.InvalidTopicException.Code
		} else if name != "" && autoCreate {
			mt.ErrorCode = s.autoCreate(ctx, name)
		}
		resp.Topics = append(resp.Topics, mt)
	}
	return resp, nil
}

func (s *Server) topicByID(id [16]byte) *metadatav1.TopicRecord {
	for _, t := range s.d.Cache.Topics() {
		if [16]byte(t.GetTopicId()) == id {
			return t
		}
	}
	return nil
}

// autoCreate creates a topic with the default partitions and replication
// factor and returns the code to answer while it appears.
func (s *Server) autoCreate(ctx context.Context, name string) int16 {
	// Kafka's auto-creation needs CREATE on the cluster or the topic.
	if !s.allowed(ctx, acl.OpCreate, acl.ResourceCluster, acl.ClusterName) && !s.allowed(ctx, acl.OpCreate, acl.ResourceTopic, name) {
		return errTopicAuthz
	}
	_, err := s.d.Admin.CreateTopic(ctx, &adminv1.CreateTopicRequest{Name: name,
		Partitions: s.cfg.DefaultPartitions, ReplicationFactor: s.defaultRF()})
	if err != nil && !errs.Is(err, errs.TopicAlreadyExists) {
		s.log.Warn("auto-creating a topic failed", "topic", name, "err", err)
		return errs.KafkaCode(err)
	}
	return errLeaderNotAvailable
}

func (s *Server) defaultRF() int32 {
	if s.cfg.DefaultReplicationFactor > 0 {
		return s.cfg.DefaultReplicationFactor
	}
	return int32(max(1, min(3, s.d.Cache.LiveStorageNodes())))
}

func (s *Server) topicMetadata(t *metadatav1.TopicRecord, brokers []broker) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.GetName()
	mt.Topic = &name
	if len(t.GetTopicId()) == 16 {
		mt.TopicID = [16]byte(t.GetTopicId())
	}
	for p := range t.GetPartitionCount() {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = p
		rec, ok := s.d.Cache.Partition(name, p)
		if !ok {
			mp.ErrorCode, mp.Leader = errLeaderNotAvailable, -1
			mt.Partitions = append(mt.Partitions, mp)
			continue
		}
		first := gatewayFor(brokers, name, p)
		n := min(max(len(rec.GetReplicas()), 1), len(brokers))
		for i := range n {
			mp.Replicas = append(mp.Replicas, brokers[(first+i)%len(brokers)].id)
		}
		isr := min(max(len(rec.GetIsr()), 1), n)
		mp.ISR = mp.Replicas[:isr]
		offline := min(len(rec.GetOfflineReplicas()), n)
		mp.OfflineReplicas = mp.Replicas[n-offline:]
		mp.Leader = brokers[first].id
		mp.LeaderEpoch = rec.GetLeaderEpoch()
		if rec.GetLeader() < 0 {
			mp.ErrorCode, mp.Leader = errLeaderNotAvailable, -1
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

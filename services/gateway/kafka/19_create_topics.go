package kafka

// CreateTopics, versions 0–7, through the controller's admin API. -1
// partitions or replication factor take the defaults (num.partitions,
// default.replication.factor). A manual replica assignment places exactly
// the replicas asked for; its ids are storage node ids (as `strata cluster
// describe` lists them), not the gateway broker ids of Metadata, and it
// needs -1 partitions and replication factor (else INVALID_REQUEST, as in
// Kafka). The controller refuses partitions not numbered 0 to n-1, uneven
// replica counts, a node twice in a partition and nodes that are not live
// storage nodes with INVALID_REPLICA_ASSIGNMENT. A topic named twice in one
// request gets INVALID_REQUEST for each entry. validate_only is honoured.
//
// As in Kafka, the answer waits until every new partition's leader has
// taken up its leadership on its storage node, or timeout_ms passed (then
// REQUEST_TIMED_OUT; the topic exists); timeout_ms 0 answers once the topic
// is created. v5+ answers with the partitions, replication factor and
// configs; v7 with the topic id.

import (
	"context"
	"sync"
	"time"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(19, 0, 7, handleCreateTopics) }

// maxCreateTimeout bounds how long a CreateTopics or CreatePartitions
// waits for the new leaders, whatever timeout_ms says.
const maxCreateTimeout = 5 * time.Minute

func handleCreateTopics(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	named := map[string]int{}
	for _, t := range req.Topics {
		named[t.Topic]++
	}
	var created []readyWait
	for _, t := range req.Topics {
		rt := kmsg.NewCreateTopicsResponseTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = t.Topic, -1, -1
		if named[t.Topic] > 1 {
			rt.ErrorCode, rt.ErrorMessage = kerr.InvalidRequest.Code, strPtr("the topic is named more than once in the request")
			resp.Topics = append(resp.Topics, rt)
			continue
		}
		creq := &adminv1.CreateTopicRequest{Name: t.Topic, Partitions: t.NumPartitions, ReplicationFactor: int32(t.ReplicationFactor),
			Configs: map[string]string{}, ValidateOnly: req.ValidateOnly}
		if len(t.ReplicaAssignment) > 0 {
			if t.NumPartitions != -1 || t.ReplicationFactor != -1 {
				rt.ErrorCode = kerr.InvalidRequest.Code
				rt.ErrorMessage = strPtr("a replica assignment needs num_partitions and replication_factor -1")
				resp.Topics = append(resp.Topics, rt)
				continue
			}
			creq.Partitions, creq.ReplicationFactor = 0, 0
			for _, a := range t.ReplicaAssignment {
				creq.Assignments = append(creq.Assignments, &adminv1.ReplicaAssignment{Partition: a.Partition, Replicas: a.Replicas})
			}
		} else {
			if creq.Partitions == -1 {
				creq.Partitions = s.cfg.DefaultPartitions
			}
			if creq.ReplicationFactor == -1 {
				creq.ReplicationFactor = s.defaultRF()
			}
		}
		for _, c := range t.Configs {
			if c.Value != nil {
				creq.Configs[c.Name] = *c.Value
			}
		}
		var out *adminv1.CreateTopicResponse
		rt.ErrorCode, rt.ErrorMessage = adminCall(ctx, func(ctx context.Context) (err error) {
			out, err = s.d.Admin.CreateTopic(ctx, creq)
			return err
		})
		if rt.ErrorCode == 0 {
			tp := out.GetTopic()
			rt.NumPartitions, rt.ReplicationFactor = tp.GetPartitionCount(), int16(tp.GetReplicationFactor())
			if len(tp.GetTopicId()) > 0 {
				if id, ok := parseTopicID(tp.GetTopicId()); ok {
					rt.TopicID = id
				}
			}
			for k, v := range tp.GetConfigs() {
				c := kmsg.NewCreateTopicsResponseTopicConfig()
				c.Name, c.Value, c.Source = k, &v, 1 // DYNAMIC_TOPIC_CONFIG
				rt.Configs = append(rt.Configs, c)
			}
			if !req.ValidateOnly {
				created = append(created, readyWait{topic: t.Topic, from: 0, to: tp.GetPartitionCount(), index: len(resp.Topics)})
			}
		}
		resp.Topics = append(resp.Topics, rt)
	}
	for i, code := range s.awaitReady(ctx, req.TimeoutMillis, created) {
		if code != 0 {
			rt := &resp.Topics[created[i].index]
			rt.ErrorCode = code
			rt.ErrorMessage = strPtr("the topic was created, but not every partition's leader was ready within the timeout")
		}
	}
	return resp, nil
}

// readyWait is a topic whose partitions from..to-1 are new.
type readyWait struct {
	topic    string
	from, to int32
	index    int // of the topic in the response
}

// awaitReady waits, for at most timeoutMs (0 or less: not at all), until
// the new partitions of every topic have a leader that took up its
// leadership, and returns per topic 0 or REQUEST_TIMED_OUT.
func (s *Server) awaitReady(ctx context.Context, timeoutMs int32, ws []readyWait) []int16 {
	codes := make([]int16, len(ws))
	if timeoutMs <= 0 || len(ws) == 0 {
		return codes
	}
	ctx, cancel := context.WithTimeout(ctx, min(time.Duration(timeoutMs)*time.Millisecond, maxCreateTimeout))
	defer cancel()
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			parts := make([]int32, 0, w.to-w.from)
			for p := w.from; p < w.to; p++ {
				parts = append(parts, p)
			}
			if err := s.router.AwaitLeaders(ctx, w.topic, parts); err != nil {
				s.log.Info("new partitions not ready within the request's timeout", "topic", w.topic, "err", err)
				codes[i] = errs.KafkaCode(errs.New(errs.RequestTimedOut, ""))
			}
		}()
	}
	wg.Wait()
	return codes
}

func strPtr(s string) *string { return &s }

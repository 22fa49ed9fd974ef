package kafka

// AlterPartitionReassignments, versions 0–1, through the controller's
// admin API. A replica list (storage node ids, as `strata cluster
// describe` shows them; the first is the preferred leader) starts a
// reassignment (ReassignPartition: the new replicas copy the log, join the
// ISR, then the old ones leave); a null list cancels the running one
// (CancelReassignment: back to the original replicas, as Kafka reverts).
// A partition already moving has its move replaced, as in Kafka: reverted
// to its original replicas, then moved from there to the new list. Per
// partition: INVALID_REPLICA_ASSIGNMENT for an empty list, duplicates, or
// unknown or dead nodes (or a running move that cannot be reverted: no
// original replica in the ISR); NO_REASSIGNMENT_IN_PROGRESS for a cancel
// with none; UNKNOWN_TOPIC_OR_PARTITION. v1 without allow_replication_factor_change
// refuses a list that changes the partition's replica count with
// INVALID_REPLICATION_FACTOR (KIP-860).

import (
	"context"
	"fmt"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(45, 0, 1, handleAlterPartitionReassignments) }

func handleAlterPartitionReassignments(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.AlterPartitionAssignmentsRequest)
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	allowRFChange := req.Version == 0 || req.AllowReplicationFactorChange
	for _, t := range req.Topics {
		rt := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode, rp.ErrorMessage = s.alterReassignment(ctx, t.Topic, p.Partition, p.Replicas, allowRFChange)
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

// alterReassignment starts or (replicas nil) cancels one partition's move.
func (s *Server) alterReassignment(ctx context.Context, topic string, partition int32, replicas []int32, allowRFChange bool) (int16, *string) {
	if replicas == nil {
		return adminCall(ctx, func(ctx context.Context) error {
			_, err := s.d.Admin.CancelReassignment(ctx, &adminv1.CancelReassignmentRequest{Topic: topic, Partition: partition})
			return err
		})
	}
	if len(replicas) == 0 {
		msg := "the replica list is empty"
		return kerr.InvalidReplicaAssignment.Code, &msg
	}
	if !allowRFChange {
		if rec, ok := s.d.Cache.Partition(topic, partition); ok {
			if cur := len(rec.GetReplicas()) - len(rec.GetRemovingReplicas()); cur != len(replicas) {
				msg := fmt.Sprintf("%s-%d has %d replicas and the new list %d: set allow_replication_factor_change to change that", topic, partition, cur, len(replicas))
				return kerr.InvalidReplicationFactor.Code, &msg
			}
		}
	}
	code, msg := adminCall(ctx, func(ctx context.Context) error {
		_, err := s.d.Admin.ReassignPartition(ctx, &adminv1.ReassignPartitionRequest{Topic: topic, Partition: partition, Replicas: replicas, Replace: true})
		return err
	})
	if code == kerr.InvalidReplicationFactor.Code {
		// Strata's admin API says replication factor for a bad replica
		// list (duplicates, unknown or dead nodes); Kafka says assignment.
		code = kerr.InvalidReplicaAssignment.Code
	}
	return code, msg
}

package groups

import (
	"time"

	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	"github.com/strata-io/strata/services/controller/mdstore"
	"github.com/twmb/franz-go/pkg/kerr"
)

// What the transaction coordinator needs from the groups: TxnOffsetCommit
// checks the member as OffsetCommit does, and the offsets of a committed
// transaction are written with its completion, in one store transaction.

// CheckMember is the member check of a TxnOffsetCommit (v3+ carries the
// member id, instance id and generation; older versions pass -1 and "",
// which skip it, as in Kafka's validateOffsetCommit). It returns a Kafka error code, 0 when the member may
// commit; NOT_COORDINATOR while the groups are not loaded.
func (gc *Coordinator) CheckMember(group, memberID string, instanceID *string, generation int32) int16 {
	if group == "" {
		return kerr.InvalidGroupID.Code
	}
	if err := gc.lockLoaded(); err != nil {
		return kerr.NotCoordinator.Code
	}
	defer gc.mu.Unlock()
	g := gc.groups[group]
	if generation < 0 && memberID == "" && instanceID == nil {
		// Older TxnOffsetCommit versions carry no member: Kafka accepts
		// them whatever the group's state (unlike a plain OffsetCommit).
		return 0
	}
	if g != nil && g.cg != nil {
		// A consumer-protocol group: the generation is the member epoch.
		switch m := g.cg.members[memberID]; {
		case m == nil:
			return kerr.UnknownMemberID.Code
		case m.epoch != generation && m.classic != nil:
			return kerr.IllegalGeneration.Code
		case m.epoch != generation:
			return kerr.StaleMemberEpoch.Code
		}
		return 0
	}
	m, code := g.committer(memberID, instanceID, generation)
	if code == 0 {
		m.deadline = time.Now().Add(m.sessionTimeout)
	}
	return code
}

// OffsetOp is the store write that commits an offset to a group's
// topic-partition, as OffsetCommit writes them.
func OffsetOp(group, topic string, partition int32, offset int64, leaderEpoch int32, meta string) mdstore.Op {
	rec := &controllerv1.OffsetRecord{Offset: offset, LeaderEpoch: leaderEpoch, Metadata: meta, CommitUnixMs: time.Now().UnixMilli()}
	return mdstore.Put(offsetKey(group, topic, partition), mdstore.Marshal(rec))
}

// SetPendingOffsets tells the coordinator where to learn which offsets are
// pending in open transactions, so OffsetFetch with require_stable answers
// UNSTABLE_OFFSET_COMMIT for them (KIP-447). Call it before Run.
func (gc *Coordinator) SetPendingOffsets(pending func(group string) map[string]map[int32]bool) {
	gc.pending = pending
}

// MaxOffsetMetadata is offset.metadata.max.bytes.
const MaxOffsetMetadata = maxOffsetMetadata

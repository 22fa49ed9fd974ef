// Package metadata is the cache of the cluster metadata that storage nodes
// and gateways fill from the controller's watch stream. The etcd key layout
// and record encoding are the controller's (services/controller/mdstore).
package metadata

import (
	"sort"
	"sync"

	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	"github.com/strata-io/strata/internal/acl"
	"github.com/strata-io/strata/internal/quota"
	"google.golang.org/protobuf/proto"
)

type partitionID struct {
	topic     string
	partition int32
}

// Cache is a local copy of the cluster metadata, kept current by applying
// the controller's watch stream. Records handed out are shared: read them,
// never modify them.
type Cache struct {
	mu          sync.RWMutex
	revision    int64
	synced      bool
	incomplete  bool // the last snapshot left records out
	topics      map[string]*metadatav1.TopicRecord
	partitions  map[partitionID]*metadatav1.PartitionRecord
	nodes       map[int32]*metadatav1.StorageNodeRecord
	alive       map[int32]*metadatav1.LivenessRecord
	gateways    map[int32]*metadatav1.GatewayRecord
	controllers map[string]*metadatav1.ControllerRecord
	quotas      map[string]*metadatav1.ClientQuotaRecord // by entity path
	quotaGen    uint64                                   // bumped on every change of quotas
	acls        map[string]acl.Binding                   // by path under /strata/acls/
	aclGen      uint64                                   // bumped on every change of acls
	changed     chan struct{}                            // closed and replaced on every change
}

// NewCache returns an empty, unsynced cache.
func NewCache() *Cache {
	c := &Cache{changed: make(chan struct{})}
	c.reset()
	return c
}

func (c *Cache) reset() {
	c.topics = map[string]*metadatav1.TopicRecord{}
	c.partitions = map[partitionID]*metadatav1.PartitionRecord{}
	c.nodes = map[int32]*metadatav1.StorageNodeRecord{}
	c.alive = map[int32]*metadatav1.LivenessRecord{}
	c.gateways = map[int32]*metadatav1.GatewayRecord{}
	c.controllers = map[string]*metadatav1.ControllerRecord{}
	c.quotas = map[string]*metadatav1.ClientQuotaRecord{}
	c.quotaGen++
	c.acls = map[string]acl.Binding{}
	c.aclGen++
}

// Apply applies one watch message. Messages older than the cache are ignored,
// so a resumed stream that repeats a revision does no harm.
func (c *Cache) Apply(m *controllerv1.WatchMetadataResponse) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !m.GetSnapshot() && m.GetRevision() <= c.revision {
		return
	}
	if m.GetSnapshot() {
		c.reset()
		c.incomplete = m.GetIncomplete()
	}
	for _, r := range m.GetUpserts() {
		c.upsert(r)
	}
	for _, k := range m.GetDeletes() {
		c.remove(k)
	}
	c.revision = m.GetRevision()
	c.synced = true
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *Cache) upsert(r *metadatav1.Record) {
	switch r := r.GetRecord().(type) {
	case *metadatav1.Record_Topic:
		c.topics[r.Topic.GetName()] = r.Topic
	case *metadatav1.Record_Partition:
		c.partitions[partitionID{r.Partition.GetTopic(), r.Partition.GetPartition()}] = r.Partition
	case *metadatav1.Record_StorageNode:
		c.nodes[r.StorageNode.GetNodeId()] = r.StorageNode
	case *metadatav1.Record_Liveness:
		c.alive[r.Liveness.GetNodeId()] = r.Liveness
	case *metadatav1.Record_Gateway:
		c.gateways[r.Gateway.GetGatewayId()] = r.Gateway
	case *metadatav1.Record_Controller:
		c.controllers[r.Controller.GetName()] = r.Controller
	case *metadatav1.Record_ClientQuota:
		c.quotas[quotaPath(r.ClientQuota)] = r.ClientQuota
		c.quotaGen++
	case *metadatav1.Record_Acl:
		b := acl.FromRecord(r.Acl)
		c.acls[b.Path()] = b
		c.aclGen++
	}
}

func (c *Cache) remove(k *metadatav1.RecordKey) {
	switch k := k.GetKey().(type) {
	case *metadatav1.RecordKey_Topic:
		delete(c.topics, k.Topic)
	case *metadatav1.RecordKey_Partition:
		delete(c.partitions, partitionID{k.Partition.GetTopic(), k.Partition.GetPartition()})
	case *metadatav1.RecordKey_StorageNode:
		delete(c.nodes, k.StorageNode)
	case *metadatav1.RecordKey_Liveness:
		delete(c.alive, k.Liveness)
	case *metadatav1.RecordKey_Gateway:
		delete(c.gateways, k.Gateway)
	case *metadatav1.RecordKey_Controller:
		delete(c.controllers, k.Controller)
	case *metadatav1.RecordKey_ClientQuota:
		delete(c.quotas, k.ClientQuota)
		c.quotaGen++
	case *metadatav1.RecordKey_Acl:
		delete(c.acls, k.Acl)
		c.aclGen++
	}
}

// Revision is the last revision applied; 0 before the first snapshot.
func (c *Cache) Revision() int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.revision
}

// Synced reports whether a snapshot has been applied.
func (c *Cache) Synced() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.synced
}

// Complete reports whether the cache holds every record: synced, from a
// snapshot that left nothing out. Only then may a record's absence be
// taken as its deletion.
func (c *Cache) Complete() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.synced && !c.incomplete
}

// Changed returns a channel closed at the next change.
func (c *Cache) Changed() <-chan struct{} {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.changed
}

// Topic returns a topic record.
func (c *Cache) Topic(name string) (*metadatav1.TopicRecord, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	t, ok := c.topics[name]
	return t, ok
}

// Partition returns a partition record.
func (c *Cache) Partition(topic string, partition int32) (*metadatav1.PartitionRecord, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	p, ok := c.partitions[partitionID{topic, partition}]
	return p, ok
}

// StorageNode returns a node's registration and whether it is alive.
func (c *Cache) StorageNode(id int32) (node *metadatav1.StorageNodeRecord, alive bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, alive = c.alive[id]
	return c.nodes[id], alive
}

// ReplicasOf returns the partitions that have a replica on node, sorted.
func (c *Cache) ReplicasOf(node int32) []*metadatav1.PartitionRecord {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []*metadatav1.PartitionRecord
	for _, p := range c.partitions {
		for _, r := range p.GetReplicas() {
			if r == node {
				out = append(out, p)
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].GetTopic() != out[j].GetTopic() {
			return out[i].GetTopic() < out[j].GetTopic()
		}
		return out[i].GetPartition() < out[j].GetPartition()
	})
	return out
}

// Gateways returns the live gateways sorted by id.
func (c *Cache) Gateways() []*metadatav1.GatewayRecord {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*metadatav1.GatewayRecord, 0, len(c.gateways))
	for _, g := range c.gateways {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetGatewayId() < out[j].GetGatewayId() })
	return out
}

// Clone returns a deep copy of a record, for callers that must modify it.
func Clone[M proto.Message](m M) M { return proto.Clone(m).(M) }

// Topics returns every topic record sorted by name.
func (c *Cache) Topics() []*metadatav1.TopicRecord {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*metadatav1.TopicRecord, 0, len(c.topics))
	for _, t := range c.topics {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out
}

// LiveStorageNodes returns how many storage nodes are alive.
func (c *Cache) LiveStorageNodes() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.alive)
}

// StorageNodes returns every registered storage node sorted by id, and
// which of them are alive.
func (c *Cache) StorageNodes() ([]*metadatav1.StorageNodeRecord, map[int32]bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*metadatav1.StorageNodeRecord, 0, len(c.nodes))
	alive := make(map[int32]bool, len(c.alive))
	for id, n := range c.nodes {
		out = append(out, n)
		if _, ok := c.alive[id]; ok {
			alive[id] = true
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetNodeId() < out[j].GetNodeId() })
	return out, alive
}

// ClientQuotas returns the quotas set on the entity at path (see
// internal/quota's Entity.Path), nil when none are. The map is shared:
// never modify it.
func (c *Cache) ClientQuotas(path string) map[string]float64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.quotas[path].GetQuotas()
}

// ClientQuotaGen changes whenever a client quota does, so callers may
// keep what they derived from the quotas until it moves.
func (c *Cache) ClientQuotaGen() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.quotaGen
}

// AllClientQuotas returns every client quota record sorted by entity path.
func (c *Cache) AllClientQuotas() []*metadatav1.ClientQuotaRecord {
	c.mu.RLock()
	defer c.mu.RUnlock()
	paths := make([]string, 0, len(c.quotas))
	for p := range c.quotas {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	out := make([]*metadatav1.ClientQuotaRecord, len(paths))
	for i, p := range paths {
		out[i] = c.quotas[p]
	}
	return out
}

func quotaPath(r *metadatav1.ClientQuotaRecord) string { return quota.FromProto(r.GetEntity()).Path() }

// ACLGen changes whenever an ACL binding does (acl.Source).
func (c *Cache) ACLGen() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.aclGen
}

// ACLs returns every ACL binding sorted by path (acl.Source).
func (c *Cache) ACLs() []acl.Binding {
	c.mu.RLock()
	defer c.mu.RUnlock()
	paths := make([]string, 0, len(c.acls))
	for p := range c.acls {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	out := make([]acl.Binding, len(paths))
	for i, p := range paths {
		out[i] = c.acls[p]
	}
	return out
}

package kafka

import (
	"context"
	"hash/fnv"
	"net"
	"strconv"
	"time"

	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/rpc"
)

// storageClients hands out a client for a storage node address: the
// gateway's connection pool in production, an in-process stub in benchmarks.
type storageClients interface {
	client(addr string) (storagev1.StorageServiceClient, error)
}

// storagePool serves clients from the gateway's pool of connections.
type storagePool struct{ conns *rpc.Pool }

func (p *storagePool) client(addr string) (storagev1.StorageServiceClient, error) {
	c, err := p.conns.Get(addr)
	if err != nil {
		return nil, err
	}
	return storagev1.NewStorageServiceClient(c), nil
}

// leader is where one partition's requests go.
type leader struct {
	node  int32
	addr  string
	epoch int32
	rf    int
}

// Kafka error codes used by the routing layer.
const (
	errUnknownTopicOrPartition = 3
	errLeaderNotAvailable      = 5
	errNotLeader               = 6
)

// leaderOf finds a partition's storage leader in the metadata cache; a
// non-zero code says why there is none.
func (s *Server) leaderOf(topic string, partition int32) (leader, int16) {
	rec, ok := s.d.Cache.Partition(topic, partition)
	if !ok {
		return leader{}, errUnknownTopicOrPartition
	}
	if rec.GetLeader() < 0 {
		return leader{}, errLeaderNotAvailable
	}
	node, _ := s.d.Cache.StorageNode(rec.GetLeader())
	if node == nil || node.GetAddress() == "" {
		return leader{}, errLeaderNotAvailable
	}
	return leader{node: rec.GetLeader(), addr: node.GetAddress(), epoch: rec.GetLeaderEpoch(), rf: len(rec.GetReplicas())}, 0
}

// awaitLeaderChange waits briefly for the metadata cache to move a
// partition's leader away from the one that refused, and returns the new
// leader (or the hint's when the cache has not caught up).
func (s *Server) awaitLeaderChange(ctx context.Context, topic string, partition int32, old leader, hint *errs.Error) (leader, int16) {
	deadline := time.NewTimer(2 * time.Second)
	defer deadline.Stop()
	for {
		ch := s.d.Cache.Changed()
		l, code := s.leaderOf(topic, partition)
		if code == 0 && (l.node != old.node || l.epoch != old.epoch) {
			return l, 0
		}
		if h := hint.Detail.GetLeader(); h != nil && h.GetLeaderAddress() != "" && h.GetLeaderId() != old.node && h.GetLeaderId() >= 0 {
			return leader{node: h.GetLeaderId(), addr: h.GetLeaderAddress(), epoch: h.GetLeaderEpoch(), rf: old.rf}, 0
		}
		select {
		case <-ch:
		case <-deadline.C:
			return l, errNotLeader
		case <-ctx.Done():
			return l, errNotLeader
		}
	}
}

// broker is one gateway as Kafka clients see it.
type broker struct {
	id   int32
	host string
	port int32
}

// brokers returns the live gateways; this gateway is always among them.
func (s *Server) brokers() []broker {
	var out []broker
	self := false
	for _, g := range s.d.Cache.Gateways() {
		if b, ok := toBroker(g); ok {
			out = append(out, b)
			self = self || b.id == s.d.NodeID
		}
	}
	if !self {
		if b, ok := toBroker(&metadatav1.GatewayRecord{GatewayId: s.d.NodeID, KafkaAddress: s.d.Advertise}); ok {
			out = append(out, b)
		}
	}
	return out
}

func toBroker(g *metadatav1.GatewayRecord) (broker, bool) {
	host, port, err := net.SplitHostPort(g.GetKafkaAddress())
	if err != nil {
		return broker{}, false
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return broker{}, false
	}
	return broker{id: g.GetGatewayId(), host: host, port: int32(p)}, true
}

// gatewayFor is the gateway advertised as a partition's leader: spread
// deterministically over the live gateways by topic and partition, so every
// gateway gives the same answer and clients spread their connections.
func gatewayFor(brokers []broker, topic string, partition int32) int {
	h := fnv.New32a()
	h.Write([]byte(topic))
	return int((h.Sum32() + uint32(partition)) % uint32(len(brokers)))
}

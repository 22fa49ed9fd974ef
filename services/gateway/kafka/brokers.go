package kafka

import (
	"hash/fnv"
	"net"
	"strconv"

	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
)

// Kafka error codes the metadata answers use.
const (
	errUnknownTopicOrPartition = 3
	errLeaderNotAvailable      = 5
)

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

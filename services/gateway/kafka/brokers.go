package kafka

import (
	"context"
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

// brokers returns the live gateways at their addresses for the listener
// the request came in on (ctx's connection; the default listener without
// one); this gateway is always among them. A gateway that registered
// named listeners but not this one is left out, as Kafka requires every
// broker to serve every listener.
func (s *Server) brokers(ctx context.Context) []broker {
	l := &Listener{Name: DefaultListener, Advertise: s.d.Advertise}
	if c, ok := ctx.Value(connKey{}).(*conn); ok && c.l != nil {
		l = c.l
	} else if len(s.listeners) > 0 {
		l = s.listeners[0]
	}
	var out []broker
	self := false
	for _, g := range s.d.Cache.Gateways() {
		if b, ok := toBroker(g, l.Name); ok {
			out = append(out, b)
			self = self || b.id == s.d.NodeID
		}
	}
	if !self {
		if b, ok := toBroker(&metadatav1.GatewayRecord{GatewayId: s.d.NodeID, KafkaListeners: map[string]string{l.Name: l.Advertise}}, l.Name); ok {
			out = append(out, b)
		}
	}
	return out
}

func toBroker(g *metadatav1.GatewayRecord, listener string) (broker, bool) {
	addr, ok := g.GetKafkaListeners()[listener]
	if !ok && len(g.GetKafkaListeners()) == 0 { // registered before named listeners
		addr, ok = g.GetKafkaAddress(), true
	}
	if !ok {
		return broker{}, false
	}
	host, port, err := net.SplitHostPort(addr)
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

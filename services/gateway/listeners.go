package gateway

// Kafka listeners as Kafka configures them: --kafka-listeners is Kafka's
// `listeners` (NAME://host:port, comma-separated), --advertise-kafka-listeners
// its `advertised.listeners`, and --kafka-listener-security-protocol-map its
// `listener.security.protocol.map` (NAME:PROTOCOL). Without
// --kafka-listeners the gateway serves one PLAINTEXT listener at
// --kafka-addr, advertised as --advertise-kafka.

import (
	"fmt"
	"net"
	"strings"

	"github.com/strata-io/strata/services/gateway/kafka"
)

// listenerSpec is one configured Kafka listener, before it is bound.
type listenerSpec struct {
	name      string
	protocol  kafka.Protocol
	addr      string
	advertise string
}

// maxListeners bounds the listeners of one gateway (the controller refuses more).
const maxListeners = 16

// splitListener reads NAME://host:port.
func splitListener(s string) (name, addr string, err error) {
	name, addr, ok := strings.Cut(strings.TrimSpace(s), "://")
	if !ok || name == "" {
		return "", "", fmt.Errorf("listener %q is not NAME://host:port", s)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", "", fmt.Errorf("listener %q: %v", s, err)
	}
	return strings.ToUpper(name), addr, nil
}

// parseListeners checks and combines the listener flags.
func parseListeners(listeners, advertised, protocolMap []string) ([]listenerSpec, error) {
	if len(listeners) > maxListeners {
		return nil, fmt.Errorf("%d listeners, at most %d", len(listeners), maxListeners)
	}
	protos := map[string]kafka.Protocol{}
	for _, m := range protocolMap {
		name, proto, ok := strings.Cut(m, ":")
		if !ok {
			return nil, fmt.Errorf("protocol map entry %q is not NAME:PROTOCOL", m)
		}
		p, err := kafka.ParseProtocol(proto)
		if err != nil {
			return nil, err
		}
		protos[strings.ToUpper(name)] = p
	}
	var out []listenerSpec
	seen := map[string]bool{}
	for _, l := range listeners {
		name, addr, err := splitListener(l)
		if err != nil {
			return nil, err
		}
		if seen[name] {
			return nil, fmt.Errorf("listener %s is named twice", name)
		}
		seen[name] = true
		p, ok := protos[name]
		if !ok {
			if p, err = kafka.ParseProtocol(name); err != nil {
				return nil, fmt.Errorf("listener %s: no protocol in --kafka-listener-security-protocol-map, and the name is not one", name)
			}
		}
		out = append(out, listenerSpec{name: name, protocol: p, addr: addr})
	}
	for _, a := range advertised {
		name, addr, err := splitListener(a)
		if err != nil {
			return nil, err
		}
		found := false
		for i := range out {
			if out[i].name == name {
				out[i].advertise, found = addr, true
			}
		}
		if !found {
			return nil, fmt.Errorf("advertised listener %s is not in --kafka-listeners", name)
		}
	}
	return out, nil
}

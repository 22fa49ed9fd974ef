// Package quota is Kafka's client quotas (KIP-13, KIP-546) as Strata keeps
// them: the entities quotas are set on (a user, a client id, or both, each
// a name or the default), the keys and their checks, where a record lives
// in etcd, the filters of DescribeClientQuotas, Kafka's order of precedence
// when a connection's quota is looked up, and the sampled rate the
// gateways measure and throttle by.
//
// Users are not authenticated yet (SASL is a later issue): every
// connection's user is the anonymous principal, User ("ANONYMOUS"), so a
// quota set on users/ANONYMOUS or on the default user applies to every
// client until then.
package quota

import (
	"fmt"
	"math"
	"net/url"
	"sort"
	"strings"

	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
)

// Entity types, as Kafka names them.
const (
	TypeUser     = "user"
	TypeClientID = "client-id"
	TypeIP       = "ip"
)

// Quota keys.
const (
	// ProducerByteRate is Kafka's producer_byte_rate: bytes of Produce
	// requests per second.
	ProducerByteRate = "producer_byte_rate"
	// ConsumerByteRate is Kafka's consumer_byte_rate: bytes of Fetch
	// responses per second.
	ConsumerByteRate = "consumer_byte_rate"
	// RequestRate is Strata's request-rate quota: requests per second of
	// every API. Kafka's request_percentage (the share of broker handler
	// threads' time) does not fit a gateway whose handlers mostly wait on
	// storage nodes, so Strata counts requests instead.
	RequestRate = "request_rate"
)

// Anonymous is the principal of every connection until SASL arrives.
const Anonymous = "ANONYMOUS"

// DefaultName is how the default entity appears in etcd keys and in the
// CLI (Kafka's ZooKeeper paths used it too).
const DefaultName = "<default>"

// keys are the quota keys accepted, and whether their value must be an
// integer (Kafka's LONG configs).
var keys = map[string]bool{ProducerByteRate: true, ConsumerByteRate: true, RequestRate: false}

// Keys lists the quota keys accepted, sorted.
func Keys() []string {
	out := make([]string, 0, len(keys))
	for k := range keys {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// maxNameLen bounds an entity name (Kafka's client ids are short strings;
// this keeps etcd keys small).
const maxNameLen = 255

// Name is one part of an entity. A nil *Name means the entity has no such
// part.
type Name struct {
	Name    string
	Default bool
}

func (n *Name) String() string {
	if n.Default {
		return DefaultName
	}
	return n.Name
}

// Entity is a client quota entity: users/<user>, clients/<client-id> or
// users/<user>/clients/<client-id>.
type Entity struct {
	User     *Name
	ClientID *Name
}

// Component is one (type, name) part of an entity as the admin API and
// Kafka carry it.
type Component struct {
	Type    string
	Name    string
	Default bool
}

// ParseEntity checks an entity's components as Kafka's controller does
// (ClientQuotaControlManager.validateEntity): no component is empty,
// repeated or of an unknown type, and at least one is given. ip entities
// are refused: Strata has no connection-rate quotas.
func ParseEntity(cs []Component) (Entity, error) {
	var e Entity
	if len(cs) == 0 {
		return e, fmt.Errorf("invalid empty client quota entity")
	}
	for _, c := range cs {
		n := &Name{Name: c.Name, Default: c.Default}
		if n.Default {
			n.Name = ""
		}
		var slot **Name
		switch c.Type {
		case TypeUser:
			slot = &e.User
		case TypeClientID:
			slot = &e.ClientID
		case TypeIP:
			return e, fmt.Errorf("ip quota entities are not supported (Strata has no connection_creation_rate quota)")
		default:
			return e, fmt.Errorf("unhandled client quota entity type: %q", c.Type)
		}
		if *slot != nil {
			return e, fmt.Errorf("invalid client quota entity, duplicate entity entry %s", c.Type)
		}
		if !n.Default && n.Name == "" {
			return e, fmt.Errorf("empty %s not supported", c.Type)
		}
		if len(n.Name) > maxNameLen {
			return e, fmt.Errorf("%s name is longer than %d bytes", c.Type, maxNameLen)
		}
		*slot = n
	}
	return e, nil
}

// Components returns the entity as components, user first.
func (e Entity) Components() []Component {
	var out []Component
	if e.User != nil {
		out = append(out, Component{Type: TypeUser, Name: e.User.Name, Default: e.User.Default})
	}
	if e.ClientID != nil {
		out = append(out, Component{Type: TypeClientID, Name: e.ClientID.Name, Default: e.ClientID.Default})
	}
	return out
}

func escape(n *Name) string {
	if n.Default {
		return DefaultName
	}
	return url.QueryEscape(n.Name) // never contains '/', '<' or '>'
}

func unescape(s string) (*Name, error) {
	if s == DefaultName {
		return &Name{Default: true}, nil
	}
	n, err := url.QueryUnescape(s)
	if err != nil || n == "" {
		return nil, fmt.Errorf("bad entity name %q", s)
	}
	return &Name{Name: n}, nil
}

// Path is the entity's path under the quotas prefix: users/<user>,
// clients/<client-id> or users/<user>/clients/<client-id>.
func (e Entity) Path() string {
	var parts []string
	if e.User != nil {
		parts = append(parts, "users", escape(e.User))
	}
	if e.ClientID != nil {
		parts = append(parts, "clients", escape(e.ClientID))
	}
	return strings.Join(parts, "/")
}

// String is the entity as Kafka's tools print it: user=alice, client-id=app.
func (e Entity) String() string {
	var parts []string
	if e.User != nil {
		parts = append(parts, TypeUser+"="+e.User.String())
	}
	if e.ClientID != nil {
		parts = append(parts, TypeClientID+"="+e.ClientID.String())
	}
	return strings.Join(parts, ", ")
}

// ParsePath reverses Path.
func ParsePath(p string) (Entity, error) {
	var e Entity
	f := strings.Split(p, "/")
	var err error
	switch {
	case len(f) == 2 && f[0] == "users":
		e.User, err = unescape(f[1])
	case len(f) == 2 && f[0] == "clients":
		e.ClientID, err = unescape(f[1])
	case len(f) == 4 && f[0] == "users" && f[2] == "clients":
		if e.User, err = unescape(f[1]); err == nil {
			e.ClientID, err = unescape(f[3])
		}
	default:
		err = fmt.Errorf("bad quota entity path %q", p)
	}
	return e, err
}

// ValidateValue checks one quota as Kafka's controller does
// (validateQuotaKeyValue): a known key, a value above 0, an integer for
// the byte rates.
func ValidateValue(key string, v float64) error {
	integral, ok := keys[key]
	if !ok {
		if key == "request_percentage" {
			return fmt.Errorf("invalid configuration key %s: Strata's request quota is %s (requests per second)", key, RequestRate)
		}
		return fmt.Errorf("invalid configuration key %s", key)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
		return fmt.Errorf("quota %s must be greater than 0", key)
	}
	if integral {
		if v > math.MaxInt64 {
			return fmt.Errorf("proposed value for %s is too large for a LONG", key)
		}
		if math.Abs(math.Mod(v, 1)) > 1e-6 {
			return fmt.Errorf("%s cannot be a fractional value", key)
		}
	}
	return nil
}

// ValidKey reports a known quota key.
func ValidKey(key string) bool { _, ok := keys[key]; return ok }

// ToProto and FromProto convert entities to the metadata record's form.
func (e Entity) ToProto() *metadatav1.QuotaEntity {
	conv := func(n *Name) *metadatav1.QuotaEntityName {
		if n == nil {
			return nil
		}
		return &metadatav1.QuotaEntityName{Name: n.Name, IsDefault: n.Default}
	}
	return &metadatav1.QuotaEntity{User: conv(e.User), ClientId: conv(e.ClientID)}
}

// FromProto converts a metadata record's entity.
func FromProto(p *metadatav1.QuotaEntity) Entity {
	conv := func(n *metadatav1.QuotaEntityName) *Name {
		if n == nil {
			return nil
		}
		return &Name{Name: n.GetName(), Default: n.GetIsDefault()}
	}
	return Entity{User: conv(p.GetUser()), ClientID: conv(p.GetClientId())}
}

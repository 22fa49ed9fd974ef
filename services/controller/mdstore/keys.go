// The etcd key layout of the controller's metadata (docs/etcd-keys.md) and
// how each record is encoded there.

package mdstore

import (
	"fmt"
	"strconv"
	"strings"

	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Prefix is the root of every key Strata writes to etcd.
const Prefix = "/strata/"

// Key prefixes of the record kinds and the controller's bookkeeping.
const (
	TopicsPrefix      = Prefix + "topics/"
	PartitionsPrefix  = Prefix + "partitions/"
	NodesPrefix       = Prefix + "nodes/"
	AlivePrefix       = Prefix + "alive/"
	GatewaysPrefix    = Prefix + "gateways/"
	ControllersPrefix = Prefix + "controllers/"
	// QuotasPrefix holds client quota records under their entity path
	// (internal/quota: users/<user>/clients/<client-id>, …).
	QuotasPrefix = Prefix + "quotas/"
	// ACLsPrefix holds Kafka ACL bindings under their path
	// (internal/acl's Binding.Path: TOPIC/LITERAL/<name>/<principal>/…).
	ACLsPrefix     = Prefix + "acls/"
	ElectionPrefix = Prefix + "election/"
	// UsersPrefix holds the SCRAM credentials of each user (salted keys only).
	UsersPrefix      = Prefix + "users/"
	NodeIDCounter    = Prefix + "counters/node-id"
	GatewayIDCounter = Prefix + "counters/gateway-id"
	ClusterIDKey     = Prefix + "cluster-id"
)

// TopicKey is where a topic record lives.
func TopicKey(name string) string { return TopicsPrefix + name }

// PartitionsOf is the prefix of a topic's partition records. Topic names
// cannot contain '/', so prefixes of different topics never overlap.
func PartitionsOf(topic string) string { return PartitionsPrefix + topic + "/" }

// PartitionKey is where a partition record lives.
func PartitionKey(topic string, partition int32) string {
	return PartitionsOf(topic) + strconv.Itoa(int(partition))
}

// NodeKey is where a storage node's registration lives.
func NodeKey(id int32) string { return NodesPrefix + strconv.Itoa(int(id)) }

// AliveKey is the leased key that exists while a storage node is alive.
func AliveKey(id int32) string { return AlivePrefix + strconv.Itoa(int(id)) }

// GatewayKey is the leased key of a live gateway.
func GatewayKey(id int32) string { return GatewaysPrefix + strconv.Itoa(int(id)) }

// ControllerKey is the leased key of a running controller.
func ControllerKey(name string) string { return ControllersPrefix + name }

// ClientQuotaKey is where the quotas of the entity at path live.
func ClientQuotaKey(path string) string { return QuotasPrefix + path }

// UserKey is where a user's SCRAM credentials live.
func UserKey(name string) string { return UsersPrefix + name }

// ACLKey is where the ACL binding at path lives.
func ACLKey(path string) string { return ACLsPrefix + path }

// Marshal encodes a record as etcd stores it: protojson, so operators can
// read it with etcdctl.
func Marshal(m proto.Message) []byte {
	b, err := protojson.Marshal(m)
	if err != nil {
		// Only invalid UTF-8 in a string field fails, and every string is
		// validated before it reaches a record.
		panic(fmt.Sprintf("metadata: marshal %T: %v", m, err))
	}
	return b
}

// Unmarshal decodes a record written by Marshal.
func Unmarshal(b []byte, m proto.Message) error {
	return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, m)
}

func parseID(s string) (int32, bool) {
	n, err := strconv.ParseInt(s, 10, 32)
	return int32(n), err == nil
}

// Decode turns an etcd key and value into a record. ok is false for keys
// that are not records (counters, election keys).
func Decode(key string, value []byte) (rec *metadatav1.Record, ok bool, err error) {
	var msg proto.Message
	switch {
	case strings.HasPrefix(key, TopicsPrefix):
		r := &metadatav1.TopicRecord{}
		msg, rec = r, &metadatav1.Record{Record: &metadatav1.Record_Topic{Topic: r}}
	case strings.HasPrefix(key, PartitionsPrefix):
		r := &metadatav1.PartitionRecord{}
		msg, rec = r, &metadatav1.Record{Record: &metadatav1.Record_Partition{Partition: r}}
	case strings.HasPrefix(key, NodesPrefix):
		r := &metadatav1.StorageNodeRecord{}
		msg, rec = r, &metadatav1.Record{Record: &metadatav1.Record_StorageNode{StorageNode: r}}
	case strings.HasPrefix(key, AlivePrefix):
		r := &metadatav1.LivenessRecord{}
		msg, rec = r, &metadatav1.Record{Record: &metadatav1.Record_Liveness{Liveness: r}}
	case strings.HasPrefix(key, GatewaysPrefix):
		r := &metadatav1.GatewayRecord{}
		msg, rec = r, &metadatav1.Record{Record: &metadatav1.Record_Gateway{Gateway: r}}
	case strings.HasPrefix(key, ControllersPrefix):
		r := &metadatav1.ControllerRecord{}
		msg, rec = r, &metadatav1.Record{Record: &metadatav1.Record_Controller{Controller: r}}
	case strings.HasPrefix(key, QuotasPrefix):
		r := &metadatav1.ClientQuotaRecord{}
		msg, rec = r, &metadatav1.Record{Record: &metadatav1.Record_ClientQuota{ClientQuota: r}}
	case strings.HasPrefix(key, ACLsPrefix):
		r := &metadatav1.AclRecord{}
		msg, rec = r, &metadatav1.Record{Record: &metadatav1.Record_Acl{Acl: r}}
	default:
		return nil, false, nil
	}
	if err := Unmarshal(value, msg); err != nil {
		return nil, false, fmt.Errorf("decode %s: %w", key, err)
	}
	return rec, true, nil
}

// DecodeKey names the record a deleted etcd key held. ok is false for keys
// that are not records.
func DecodeKey(key string) (*metadatav1.RecordKey, bool) {
	rest := func(prefix string) (string, bool) {
		if strings.HasPrefix(key, prefix) {
			return key[len(prefix):], true
		}
		return "", false
	}
	if s, ok := rest(TopicsPrefix); ok {
		return &metadatav1.RecordKey{Key: &metadatav1.RecordKey_Topic{Topic: s}}, true
	}
	if s, ok := rest(PartitionsPrefix); ok {
		i := strings.LastIndexByte(s, '/')
		if i < 0 {
			return nil, false
		}
		p, ok := parseID(s[i+1:])
		if !ok {
			return nil, false
		}
		return &metadatav1.RecordKey{Key: &metadatav1.RecordKey_Partition{
			Partition: &metadatav1.PartitionKey{Topic: s[:i], Partition: p}}}, true
	}
	ids := []struct {
		prefix string
		wrap   func(int32) *metadatav1.RecordKey
	}{
		{NodesPrefix, func(id int32) *metadatav1.RecordKey {
			return &metadatav1.RecordKey{Key: &metadatav1.RecordKey_StorageNode{StorageNode: id}}
		}},
		{AlivePrefix, func(id int32) *metadatav1.RecordKey {
			return &metadatav1.RecordKey{Key: &metadatav1.RecordKey_Liveness{Liveness: id}}
		}},
		{GatewaysPrefix, func(id int32) *metadatav1.RecordKey {
			return &metadatav1.RecordKey{Key: &metadatav1.RecordKey_Gateway{Gateway: id}}
		}},
	}
	for _, k := range ids {
		if s, ok := rest(k.prefix); ok {
			id, ok := parseID(s)
			if !ok {
				return nil, false
			}
			return k.wrap(id), true
		}
	}
	if s, ok := rest(ControllersPrefix); ok {
		return &metadatav1.RecordKey{Key: &metadatav1.RecordKey_Controller{Controller: s}}, true
	}
	if s, ok := rest(QuotasPrefix); ok {
		return &metadatav1.RecordKey{Key: &metadatav1.RecordKey_ClientQuota{ClientQuota: s}}, true
	}
	if s, ok := rest(ACLsPrefix); ok {
		return &metadatav1.RecordKey{Key: &metadatav1.RecordKey_Acl{Acl: s}}, true
	}
	return nil, false
}

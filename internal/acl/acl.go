// Package acl is Kafka's authorization model: bindings of a resource
// pattern (type, name, LITERAL or PREFIXED) to an access control entry
// (principal, host, operation, ALLOW or DENY), the filters DescribeAcls and
// DeleteAcls match them with, and the Authorizer every gateway surface
// (Kafka, gRPC, REST) asks. The semantics follow Kafka's AclAuthorizer:
// DENY wins, READ/WRITE/DELETE/ALTER imply DESCRIBE, ALTER_CONFIGS implies
// DESCRIBE_CONFIGS, super users pass, and with the authorizer on a
// resource without a matching ACL is denied.
package acl

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/strata-io/strata/internal/auth"
)

// ResourceType is Kafka's resource type, with Kafka's wire codes.
type ResourceType int8

// The resource types.
const (
	ResourceUnknown         ResourceType = 0
	ResourceAny             ResourceType = 1 // filters only
	ResourceTopic           ResourceType = 2
	ResourceGroup           ResourceType = 3
	ResourceCluster         ResourceType = 4
	ResourceTransactionalID ResourceType = 5
	ResourceDelegationToken ResourceType = 6
	ResourceUser            ResourceType = 7
)

// PatternType is how a binding's name matches resource names.
type PatternType int8

// The pattern types.
const (
	PatternUnknown  PatternType = 0
	PatternAny      PatternType = 1 // filters: any pattern type, exact name
	PatternMatch    PatternType = 2 // filters: every pattern that applies to the name
	PatternLiteral  PatternType = 3
	PatternPrefixed PatternType = 4
)

// Operation is Kafka's ACL operation.
type Operation int8

// The operations.
const (
	OpUnknown         Operation = 0
	OpAny             Operation = 1 // filters only
	OpAll             Operation = 2
	OpRead            Operation = 3
	OpWrite           Operation = 4
	OpCreate          Operation = 5
	OpDelete          Operation = 6
	OpAlter           Operation = 7
	OpDescribe        Operation = 8
	OpClusterAction   Operation = 9
	OpDescribeConfigs Operation = 10
	OpAlterConfigs    Operation = 11
	OpIdempotentWrite Operation = 12
)

// Permission is ALLOW or DENY.
type Permission int8

// The permissions.
const (
	PermUnknown Permission = 0
	PermAny     Permission = 1 // filters only
	PermDeny    Permission = 2
	PermAllow   Permission = 3
)

// Wildcard is the resource name, principal name and host that match all.
const Wildcard = "*"

// ClusterName is the only name of the CLUSTER resource, as in Kafka.
const ClusterName = "kafka-cluster"

// Limits on what one binding may hold, so stored bindings stay small.
const (
	maxNameBytes      = 1024
	maxPrincipalBytes = 1024
	maxHostBytes      = 255
)

var resourceNames = map[ResourceType]string{ResourceAny: "ANY", ResourceTopic: "TOPIC", ResourceGroup: "GROUP",
	ResourceCluster: "CLUSTER", ResourceTransactionalID: "TRANSACTIONAL_ID", ResourceDelegationToken: "DELEGATION_TOKEN",
	ResourceUser: "USER"}

var patternNames = map[PatternType]string{PatternAny: "ANY", PatternMatch: "MATCH", PatternLiteral: "LITERAL",
	PatternPrefixed: "PREFIXED"}

var opNames = map[Operation]string{OpAny: "ANY", OpAll: "ALL", OpRead: "READ", OpWrite: "WRITE", OpCreate: "CREATE",
	OpDelete: "DELETE", OpAlter: "ALTER", OpDescribe: "DESCRIBE", OpClusterAction: "CLUSTER_ACTION",
	OpDescribeConfigs: "DESCRIBE_CONFIGS", OpAlterConfigs: "ALTER_CONFIGS", OpIdempotentWrite: "IDEMPOTENT_WRITE"}

var permNames = map[Permission]string{PermAny: "ANY", PermDeny: "DENY", PermAllow: "ALLOW"}

func name[K comparable](m map[K]string, k K) string {
	if s, ok := m[k]; ok {
		return s
	}
	return "UNKNOWN"
}

func parse[K comparable](m map[K]string, s string) (K, bool) {
	s = strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), "-", "_"))
	for k, v := range m {
		if v == s {
			return k, true
		}
	}
	var zero K
	return zero, false
}

func (t ResourceType) String() string { return name(resourceNames, t) }
func (p PatternType) String() string  { return name(patternNames, p) }
func (o Operation) String() string    { return name(opNames, o) }
func (p Permission) String() string   { return name(permNames, p) }

// ParseResourceType reads TOPIC, GROUP, … (any case, '-' for '_').
func ParseResourceType(s string) (ResourceType, bool) { return parse(resourceNames, s) }

// ParsePatternType reads LITERAL, PREFIXED, ANY or MATCH.
func ParsePatternType(s string) (PatternType, bool) { return parse(patternNames, s) }

// ParseOperation reads READ, WRITE, … (any case, '-' for '_').
func ParseOperation(s string) (Operation, bool) { return parse(opNames, s) }

// ParsePermission reads ALLOW, DENY or ANY.
func ParsePermission(s string) (Permission, bool) { return parse(permNames, s) }

// Binding is one ACL: a resource pattern and an access control entry.
type Binding struct {
	ResourceType ResourceType
	ResourceName string
	PatternType  PatternType
	// Principal is "User:alice" or "User:*".
	Principal  string
	Host       string // an IP address or "*"
	Operation  Operation
	Permission Permission
}

func (b Binding) String() string {
	return fmt.Sprintf("(pattern=%s:%s:%s, principal=%s, host=%s, operation=%s, permission=%s)",
		b.ResourceType, b.PatternType, b.ResourceName, b.Principal, b.Host, b.Operation, b.Permission)
}

// Validate checks a binding to be created, with Kafka's rules and messages.
func (b Binding) Validate() error {
	switch b.ResourceType {
	case ResourceTopic, ResourceGroup, ResourceCluster, ResourceTransactionalID, ResourceDelegationToken, ResourceUser:
	default:
		return fmt.Errorf("invalid resource type %s", b.ResourceType)
	}
	if b.PatternType != PatternLiteral && b.PatternType != PatternPrefixed {
		return fmt.Errorf("invalid pattern type %s: a binding is LITERAL or PREFIXED", b.PatternType)
	}
	if b.ResourceName == "" {
		return fmt.Errorf("resource name must not be empty")
	}
	if len(b.ResourceName) > maxNameBytes {
		return fmt.Errorf("resource name is %d bytes, at most %d", len(b.ResourceName), maxNameBytes)
	}
	if b.ResourceType == ResourceCluster && (b.PatternType != PatternLiteral || b.ResourceName != ClusterName) {
		return fmt.Errorf("the only valid name for the CLUSTER resource is %s", ClusterName)
	}
	if b.PatternType == PatternPrefixed && b.ResourceName == Wildcard {
		return fmt.Errorf("a PREFIXED pattern cannot be the wildcard %q: use LITERAL", Wildcard)
	}
	if len(b.Principal) > maxPrincipalBytes {
		return fmt.Errorf("principal is %d bytes, at most %d", len(b.Principal), maxPrincipalBytes)
	}
	if _, err := auth.Parse(b.Principal); err != nil {
		return err
	}
	if b.Host != Wildcard && (len(b.Host) > maxHostBytes || net.ParseIP(b.Host) == nil) {
		return fmt.Errorf("invalid host %.64q: an IP address or %q", b.Host, Wildcard)
	}
	if b.Operation < OpAll || b.Operation > OpIdempotentWrite {
		return fmt.Errorf("invalid operation %s", b.Operation)
	}
	if b.Permission != PermAllow && b.Permission != PermDeny {
		return fmt.Errorf("invalid permission %s: ALLOW or DENY", b.Permission)
	}
	return nil
}

// Path is where a binding is stored under the ACL prefix: every field,
// query-escaped, so the same binding created twice is one key (ACLs are
// a set, as in Kafka).
func (b Binding) Path() string {
	return strings.Join([]string{b.ResourceType.String(), b.PatternType.String(), url.QueryEscape(b.ResourceName),
		url.QueryEscape(b.Principal), url.QueryEscape(b.Host), b.Operation.String(), b.Permission.String()}, "/")
}

// Filter selects bindings, as Kafka's AclBindingFilter: ANY matches every
// value of an enum, an unset (nil) string every string.
type Filter struct {
	ResourceType ResourceType
	ResourceName *string
	PatternType  PatternType
	Principal    *string
	Host         *string
	Operation    Operation
	Permission   Permission
}

// Validate checks a filter: no UNKNOWN values.
func (f Filter) Validate() error {
	if f.ResourceType <= ResourceUnknown || f.ResourceType > ResourceUser {
		return fmt.Errorf("invalid resource type %s", f.ResourceType)
	}
	if f.PatternType <= PatternUnknown || f.PatternType > PatternPrefixed {
		return fmt.Errorf("invalid pattern type %s", f.PatternType)
	}
	if f.Operation <= OpUnknown || f.Operation > OpIdempotentWrite {
		return fmt.Errorf("invalid operation %s", f.Operation)
	}
	if f.Permission <= PermUnknown || f.Permission > PermAllow {
		return fmt.Errorf("invalid permission %s", f.Permission)
	}
	return nil
}

// Matches is Kafka's ResourcePatternFilter.matches and
// AccessControlEntryFilter.matches: MATCH with a name selects every pattern
// that applies to that name (the literal name, the literal wildcard and
// every prefix of it); ANY and a concrete type compare names exactly.
func (f Filter) Matches(b Binding) bool {
	if f.ResourceType != ResourceAny && f.ResourceType != b.ResourceType {
		return false
	}
	if f.PatternType != PatternAny && f.PatternType != PatternMatch && f.PatternType != b.PatternType {
		return false
	}
	if f.ResourceName != nil {
		n := *f.ResourceName
		switch {
		case f.PatternType != PatternMatch:
			if n != b.ResourceName {
				return false
			}
		case b.PatternType == PatternLiteral:
			if n != b.ResourceName && b.ResourceName != Wildcard {
				return false
			}
		case b.PatternType == PatternPrefixed:
			if !strings.HasPrefix(n, b.ResourceName) {
				return false
			}
		default:
			return false
		}
	}
	if f.Principal != nil && *f.Principal != b.Principal {
		return false
	}
	if f.Host != nil && *f.Host != b.Host {
		return false
	}
	if f.Operation != OpAny && f.Operation != b.Operation {
		return false
	}
	return f.Permission == PermAny || f.Permission == b.Permission
}

package acl

import (
	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
)

// The public API's enums carry Kafka's numbers, so conversions are casts.

// FromProto reads a binding of the public API.
func FromProto(b *adminv1.AclBinding) Binding {
	return Binding{ResourceType: ResourceType(b.GetResourceType()), ResourceName: b.GetResourceName(),
		PatternType: PatternType(b.GetPatternType()), Principal: b.GetPrincipal(), Host: b.GetHost(),
		Operation: Operation(b.GetOperation()), Permission: Permission(b.GetPermission())}
}

// ToProto writes a binding for the public API.
func (b Binding) ToProto() *adminv1.AclBinding {
	return &adminv1.AclBinding{ResourceType: adminv1.AclResourceType(b.ResourceType), ResourceName: b.ResourceName,
		PatternType: adminv1.AclPatternType(b.PatternType), Principal: b.Principal, Host: b.Host,
		Operation: adminv1.AclOperation(b.Operation), Permission: adminv1.AclPermission(b.Permission)}
}

// FilterFromProto reads a filter of the public API.
func FilterFromProto(f *adminv1.AclBindingFilter) Filter {
	return Filter{ResourceType: ResourceType(f.GetResourceType()), ResourceName: f.ResourceName,
		PatternType: PatternType(f.GetPatternType()), Principal: f.Principal, Host: f.Host,
		Operation: Operation(f.GetOperation()), Permission: Permission(f.GetPermission())}
}

// FilterToProto writes a filter for the public API.
func (f Filter) ToProto() *adminv1.AclBindingFilter {
	return &adminv1.AclBindingFilter{ResourceType: adminv1.AclResourceType(f.ResourceType), ResourceName: f.ResourceName,
		PatternType: adminv1.AclPatternType(f.PatternType), Principal: f.Principal, Host: f.Host,
		Operation: adminv1.AclOperation(f.Operation), Permission: adminv1.AclPermission(f.Permission)}
}

// FromRecord reads a stored binding; unknown names read as UNKNOWN, which
// no check matches.
func FromRecord(r *metadatav1.AclRecord) Binding {
	rt, _ := ParseResourceType(r.GetResourceType())
	pt, _ := ParsePatternType(r.GetPatternType())
	op, _ := ParseOperation(r.GetOperation())
	perm, _ := ParsePermission(r.GetPermission())
	return Binding{ResourceType: rt, ResourceName: r.GetResourceName(), PatternType: pt, Principal: r.GetPrincipal(),
		Host: r.GetHost(), Operation: op, Permission: perm}
}

// ToRecord writes a binding as etcd stores it.
func (b Binding) ToRecord() *metadatav1.AclRecord {
	return &metadatav1.AclRecord{ResourceType: b.ResourceType.String(), ResourceName: b.ResourceName,
		PatternType: b.PatternType.String(), Principal: b.Principal, Host: b.Host, Operation: b.Operation.String(),
		Permission: b.Permission.String()}
}

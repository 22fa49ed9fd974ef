package kafka

// DescribeAcls, versions 0–3: the bindings matching the filter, through the
// controller's AclService, grouped by resource pattern as Kafka answers.
// Filters follow Kafka's matching: ANY matches every value, a null string
// every string, and pattern type MATCH with a name every binding that
// applies to it (the literal name, the literal * and every prefix of it).
// v0 filters are LITERAL. Needs DESCRIBE on the cluster.

import (
	"context"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	"github.com/strata-io/strata/internal/acl"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(29, 0, 3, handleDescribeACLs) }

// aclFilter reads a Kafka ACL filter.
func aclFilter(version int16, rt kmsg.ACLResourceType, name *string, pt kmsg.ACLResourcePatternType,
	principal, host *string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) *adminv1.AclBindingFilter {
	f := acl.Filter{ResourceType: acl.ResourceType(rt), ResourceName: name, PatternType: acl.PatternType(pt),
		Principal: principal, Host: host, Operation: acl.Operation(op), Permission: acl.Permission(perm)}
	if version == 0 {
		f.PatternType = acl.PatternLiteral
	}
	return f.ToProto()
}

func handleDescribeACLs(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.DescribeACLsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	f := aclFilter(req.Version, req.ResourceType, req.ResourceName, req.ResourcePatternType, req.Principal, req.Host,
		req.Operation, req.PermissionType)
	var out *adminv1.DescribeAclsResponse
	code, msg := adminCall(ctx, func(ctx context.Context) error {
		var err error
		out, err = s.d.ACLs.DescribeAcls(ctx, &adminv1.DescribeAclsRequest{Filter: f})
		return err
	})
	if code != 0 {
		resp.ErrorCode, resp.ErrorMessage = code, msg
		return resp, nil
	}
	type pattern struct {
		rt   kmsg.ACLResourceType
		name string
		pt   kmsg.ACLResourcePatternType
	}
	at := map[pattern]int{}
	for _, pb := range out.GetBindings() {
		b := acl.FromProto(pb)
		k := pattern{kmsg.ACLResourceType(b.ResourceType), b.ResourceName, kmsg.ACLResourcePatternType(b.PatternType)}
		i, ok := at[k]
		if !ok {
			res := kmsg.NewDescribeACLsResponseResource()
			res.ResourceType, res.ResourceName, res.ResourcePatternType = k.rt, k.name, k.pt
			resp.Resources = append(resp.Resources, res)
			i = len(resp.Resources) - 1
			at[k] = i
		}
		a := kmsg.NewDescribeACLsResponseResourceACL()
		a.Principal, a.Host = b.Principal, b.Host
		a.Operation, a.PermissionType = kmsg.ACLOperation(b.Operation), kmsg.ACLPermissionType(b.Permission)
		resp.Resources[i].ACLs = append(resp.Resources[i].ACLs, a)
	}
	return resp, nil
}

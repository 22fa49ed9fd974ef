package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	"github.com/strata-io/strata/internal/acl"
	"google.golang.org/grpc"
)

// aclFlags are kafka-acls.sh's (and rpk acl's) flags.
type aclFlags struct {
	allowPrincipals, denyPrincipals []string
	allowHosts, denyHosts           []string
	principals                      []string // list only
	operations                      []string
	topics, groups, txnIDs          []string
	cluster                         bool
	patternType                     string
}

func (a *aclFlags) register(cmd *cobra.Command, verb string) {
	fs := cmd.Flags()
	if verb == "list" {
		fs.StringArrayVar(&a.principals, "principal", nil, "only ACLs of this principal (User:alice); repeat for more")
	} else {
		fs.StringArrayVar(&a.allowPrincipals, "allow-principal", nil, "principal the ACL allows (User:alice, User:* for all); repeat for more")
		fs.StringArrayVar(&a.denyPrincipals, "deny-principal", nil, "principal the ACL denies; repeat for more")
		fs.StringArrayVar(&a.allowHosts, "allow-host", nil, "IP address the allow ACLs apply to (default * for create)")
		fs.StringArrayVar(&a.denyHosts, "deny-host", nil, "IP address the deny ACLs apply to (default * for create)")
	}
	fs.StringArrayVar(&a.operations, "operation", nil,
		"operation: All, Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite (default All for create, any for list and delete); repeat for more")
	fs.StringArrayVar(&a.topics, "topic", nil, "topic name (or prefix with --resource-pattern-type prefixed; * for all); repeat for more")
	fs.StringArrayVar(&a.groups, "group", nil, "consumer group; repeat for more")
	fs.StringArrayVar(&a.txnIDs, "transactional-id", nil, "transactional id; repeat for more")
	fs.BoolVar(&a.cluster, "cluster", false, "the cluster resource (kafka-cluster)")
	def := "any"
	if verb == "create" {
		def = "literal"
	}
	fs.StringVar(&a.patternType, "resource-pattern-type", def, "literal or prefixed; for list and delete also any or match")
}

type aclResource struct {
	typ  acl.ResourceType
	name string
}

func (a *aclFlags) resources() []aclResource {
	var out []aclResource
	for _, t := range a.topics {
		out = append(out, aclResource{acl.ResourceTopic, t})
	}
	for _, g := range a.groups {
		out = append(out, aclResource{acl.ResourceGroup, g})
	}
	for _, x := range a.txnIDs {
		out = append(out, aclResource{acl.ResourceTransactionalID, x})
	}
	if a.cluster {
		out = append(out, aclResource{acl.ResourceCluster, acl.ClusterName})
	}
	return out
}

func (a *aclFlags) ops(def acl.Operation) ([]acl.Operation, error) {
	if len(a.operations) == 0 {
		return []acl.Operation{def}, nil
	}
	var out []acl.Operation
	for _, s := range a.operations {
		op, ok := acl.ParseOperation(camelToSnake(s))
		if !ok || op == acl.OpAny || op == acl.OpUnknown {
			return nil, fmt.Errorf("--operation %q is not an ACL operation", s)
		}
		out = append(out, op)
	}
	return out, nil
}

// camelToSnake turns DescribeConfigs into DESCRIBE_CONFIGS (kafka-acls
// spells operations in camel case).
func camelToSnake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && r >= 'A' && r <= 'Z' && s[i-1] >= 'a' && s[i-1] <= 'z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (a *aclFlags) pattern(create bool) (acl.PatternType, error) {
	pt, ok := acl.ParsePatternType(a.patternType)
	if !ok || create && pt != acl.PatternLiteral && pt != acl.PatternPrefixed {
		return 0, fmt.Errorf("--resource-pattern-type %q: literal or prefixed%s", a.patternType,
			map[bool]string{false: ", any or match"}[create])
	}
	return pt, nil
}

// bindings are the ACLs create adds: every resource × principal × host ×
// operation.
func (a *aclFlags) bindings() ([]acl.Binding, error) {
	pt, err := a.pattern(true)
	if err != nil {
		return nil, err
	}
	ops, err := a.ops(acl.OpAll)
	if err != nil {
		return nil, err
	}
	res := a.resources()
	if len(res) == 0 {
		return nil, errors.New("name a resource: --topic, --group, --transactional-id or --cluster")
	}
	if len(a.allowPrincipals)+len(a.denyPrincipals) == 0 {
		return nil, errors.New("name a principal: --allow-principal or --deny-principal")
	}
	var out []acl.Binding
	add := func(principals, hosts []string, perm acl.Permission) {
		if len(hosts) == 0 {
			hosts = []string{acl.Wildcard}
		}
		for _, r := range res {
			for _, p := range principals {
				for _, h := range hosts {
					for _, op := range ops {
						out = append(out, acl.Binding{ResourceType: r.typ, ResourceName: r.name, PatternType: pt,
							Principal: p, Host: h, Operation: op, Permission: perm})
					}
				}
			}
		}
	}
	add(a.allowPrincipals, a.allowHosts, acl.PermAllow)
	add(a.denyPrincipals, a.denyHosts, acl.PermDeny)
	return out, nil
}

// filters are what list and delete match: every resource (or any) ×
// principal (or any) × operation (or any).
func (a *aclFlags) filters(requireSome bool) ([]acl.Filter, error) {
	pt, err := a.pattern(false)
	if err != nil {
		return nil, err
	}
	ops := []acl.Operation{acl.OpAny}
	if len(a.operations) > 0 {
		if ops, err = a.ops(acl.OpAny); err != nil {
			return nil, err
		}
	}
	res := a.resources()
	type who struct {
		principal *string
		hosts     []string
		perm      acl.Permission
	}
	var whos []who
	for _, p := range a.principals {
		whos = append(whos, who{&p, nil, acl.PermAny})
	}
	for _, p := range a.allowPrincipals {
		whos = append(whos, who{&p, a.allowHosts, acl.PermAllow})
	}
	for _, p := range a.denyPrincipals {
		whos = append(whos, who{&p, a.denyHosts, acl.PermDeny})
	}
	if requireSome && len(res) == 0 && len(whos) == 0 {
		return nil, errors.New("name what to delete: a resource (--topic, --group, --transactional-id, --cluster) and/or a principal")
	}
	if len(res) == 0 {
		res = []aclResource{{typ: acl.ResourceAny}}
	}
	if len(whos) == 0 {
		whos = []who{{perm: acl.PermAny}}
	}
	var out []acl.Filter
	for _, r := range res {
		for _, w := range whos {
			hosts := []*string{nil}
			if len(w.hosts) > 0 {
				hosts = nil
				for _, h := range w.hosts {
					hosts = append(hosts, &h)
				}
			}
			for _, h := range hosts {
				for _, op := range ops {
					f := acl.Filter{ResourceType: r.typ, PatternType: pt, Principal: w.principal, Host: h, Operation: op, Permission: w.perm}
					if r.typ != acl.ResourceAny {
						name := r.name
						f.ResourceName = &name
					}
					out = append(out, f)
				}
			}
		}
	}
	return out, nil
}

type aclJSON struct {
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	Operation    string `json:"operation"`
	Permission   string `json:"permission"`
	ResourceType string `json:"resource_type"`
	ResourceName string `json:"resource_name"`
	PatternType  string `json:"pattern_type"`
}

func printACLs(f *clientFlags, bs []acl.Binding) error {
	if f.json() {
		out := make([]aclJSON, 0, len(bs))
		for _, b := range bs {
			out = append(out, aclJSON{b.Principal, b.Host, b.Operation.String(), b.Permission.String(),
				b.ResourceType.String(), b.ResourceName, b.PatternType.String()})
		}
		return printJSON(f.out, out)
	}
	if len(bs) == 0 {
		fmt.Fprintln(f.out, "No ACLs.")
		return nil
	}
	w := table(f.out)
	fmt.Fprintln(w, "PRINCIPAL\tHOST\tOPERATION\tPERMISSION\tRESOURCE TYPE\tRESOURCE NAME\tPATTERN TYPE")
	for _, b := range bs {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", b.Principal, b.Host, b.Operation, b.Permission, b.ResourceType, b.ResourceName, b.PatternType)
	}
	return w.Flush()
}

func newACLCmd() *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{Use: "acl", Short: "Create, list and delete Kafka ACLs (enforced by gateways run with --authorizer)"}
	f.register(cmd)
	acls := func(run func(ctx context.Context, c adminv1.AclServiceClient) error) error {
		return f.call(func(ctx context.Context, conn grpc.ClientConnInterface) error {
			return run(ctx, adminv1.NewAclServiceClient(conn))
		})
	}

	var cf aclFlags
	create := &cobra.Command{
		Use:   "create (--allow-principal P | --deny-principal P)... (--topic T | --group G | --transactional-id X | --cluster)... [--operation OP]...",
		Short: "Add ACLs: each resource × principal × host × operation",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bs, err := cf.bindings()
			if err != nil {
				return err
			}
			req := &adminv1.CreateAclsRequest{}
			for _, b := range bs {
				req.Creations = append(req.Creations, b.ToProto())
			}
			return acls(func(ctx context.Context, c adminv1.AclServiceClient) error {
				resp, err := c.CreateAcls(ctx, req)
				if err != nil {
					return err
				}
				var failed []string
				for i, r := range resp.GetResults() {
					if e := r.GetError(); e != nil && i < len(bs) {
						failed = append(failed, fmt.Sprintf("%v: %s", bs[i], e.GetMessage()))
					}
				}
				if len(failed) > 0 {
					return errors.New(strings.Join(failed, "; "))
				}
				if f.json() {
					return printACLs(&f, bs)
				}
				fmt.Fprintf(f.out, "Created %d ACLs.\n", len(bs))
				return nil
			})
		},
	}
	cf.register(create, "create")

	var lf aclFlags
	list := &cobra.Command{
		Use:   "list [--principal P]... [--topic T | --group G | --transactional-id X | --cluster]... [--resource-pattern-type any|match|literal|prefixed]",
		Short: "List the ACLs matching the flags (all without any)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			filters, err := lf.filters(false)
			if err != nil {
				return err
			}
			return acls(func(ctx context.Context, c adminv1.AclServiceClient) error {
				seen := map[string]bool{}
				var out []acl.Binding
				for _, flt := range filters {
					resp, err := c.DescribeAcls(ctx, &adminv1.DescribeAclsRequest{Filter: flt.ToProto()})
					if err != nil {
						return err
					}
					for _, pb := range resp.GetBindings() {
						if b := acl.FromProto(pb); !seen[b.Path()] {
							seen[b.Path()] = true
							out = append(out, b)
						}
					}
				}
				return printACLs(&f, out)
			})
		},
	}
	lf.register(list, "list")

	var df aclFlags
	del := &cobra.Command{
		Use:   "delete [--allow-principal P | --deny-principal P]... [--topic T | --group G | --transactional-id X | --cluster]... [--operation OP]...",
		Short: "Delete the ACLs matching the flags (at least a resource or a principal)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			filters, err := df.filters(true)
			if err != nil {
				return err
			}
			req := &adminv1.DeleteAclsRequest{}
			for _, flt := range filters {
				req.Filters = append(req.Filters, flt.ToProto())
			}
			return acls(func(ctx context.Context, c adminv1.AclServiceClient) error {
				resp, err := c.DeleteAcls(ctx, req)
				if err != nil {
					return err
				}
				seen := map[string]bool{}
				var deleted []acl.Binding
				for _, r := range resp.GetResults() {
					if e := r.GetError(); e != nil {
						return errors.New(e.GetMessage())
					}
					for _, pb := range r.GetDeleted() {
						if b := acl.FromProto(pb); !seen[b.Path()] {
							seen[b.Path()] = true
							deleted = append(deleted, b)
						}
					}
				}
				if f.json() {
					return printACLs(&f, deleted)
				}
				fmt.Fprintf(f.out, "Deleted %d ACLs.\n", len(deleted))
				return nil
			})
		},
	}
	df.register(del, "delete")

	cmd.AddCommand(create, list, del)
	return cmd
}

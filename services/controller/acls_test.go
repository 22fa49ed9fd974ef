package controller

import (
	"context"
	"fmt"
	"testing"
	"time"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	"github.com/strata-io/strata/internal/acl"
	"github.com/strata-io/strata/internal/auth"
	"github.com/strata-io/strata/internal/metadata"
	"github.com/strata-io/strata/internal/rpc"
	"github.com/strata-io/strata/internal/testutil"
)

// ACL bindings are stored once each, reach watchers through the metadata
// stream, and are described and deleted by Kafka's filters.
func TestACLsStoredAndWatched(t *testing.T) {
	c := startActiveController(t)
	conn, err := rpc.Dial(c.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	acls := adminv1.NewAclServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cache := metadata.NewCache()
	stream, err := controllerv1.NewControllerServiceClient(conn).WatchMetadata(ctx, &controllerv1.WatchMetadataRequest{})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				return
			}
			cache.Apply(m)
		}
	}()

	read := acl.Binding{ResourceType: acl.ResourceTopic, ResourceName: "orders", PatternType: acl.PatternLiteral,
		Principal: "User:alice", Host: "*", Operation: acl.OpRead, Permission: acl.PermAllow}
	write := read
	write.ResourceName, write.PatternType, write.Operation = "ord", acl.PatternPrefixed, acl.OpWrite
	bad := read
	bad.Principal = "alice"
	resp, err := acls.CreateAcls(ctx, &adminv1.CreateAclsRequest{Creations: []*adminv1.AclBinding{
		read.ToProto(), write.ToProto(), bad.ToProto(), read.ToProto()}})
	if err != nil {
		t.Fatal(err)
	}
	if r := resp.GetResults(); len(r) != 4 || r[0].GetError() != nil || r[1].GetError() != nil || r[2].GetError() == nil || r[3].GetError() != nil {
		t.Fatalf("CreateAcls results: %v", r)
	}
	testutil.WaitFor(t, 10*time.Second, func() error {
		if n := len(cache.ACLs()); n != 2 {
			return fmt.Errorf("%d ACLs cached", n)
		}
		return nil
	})
	a := acl.New(acl.Config{Enabled: true}, cache)
	if !a.Authorize(auth.User("alice"), "127.0.0.1", acl.OpWrite, acl.ResourceTopic, "orders") ||
		a.Authorize(auth.User("alice"), "127.0.0.1", acl.OpWrite, acl.ResourceTopic, "logs") {
		t.Fatal("authorizer over the cache")
	}

	name := "orders"
	match := acl.Filter{ResourceType: acl.ResourceTopic, ResourceName: &name, PatternType: acl.PatternMatch,
		Operation: acl.OpAny, Permission: acl.PermAny}
	desc, err := acls.DescribeAcls(ctx, &adminv1.DescribeAclsRequest{Filter: match.ToProto()})
	if err != nil || len(desc.GetBindings()) != 2 {
		t.Fatalf("DescribeAcls MATCH orders = %v, %v", desc.GetBindings(), err)
	}
	if _, err := acls.DescribeAcls(ctx, &adminv1.DescribeAclsRequest{Filter: &adminv1.AclBindingFilter{}}); err == nil {
		t.Fatal("DescribeAcls accepted an UNKNOWN filter")
	}
	lit := match
	lit.PatternType = acl.PatternLiteral
	del, err := acls.DeleteAcls(ctx, &adminv1.DeleteAclsRequest{Filters: []*adminv1.AclBindingFilter{lit.ToProto(), lit.ToProto()}})
	if err != nil {
		t.Fatal(err)
	}
	if r := del.GetResults(); len(r) != 2 || len(r[0].GetDeleted()) != 1 || acl.FromProto(r[0].GetDeleted()[0]) != read {
		t.Fatalf("DeleteAcls = %v", r)
	}
	testutil.WaitFor(t, 10*time.Second, func() error {
		if b := cache.ACLs(); len(b) != 1 || b[0] != write {
			return fmt.Errorf("cached %v", b)
		}
		return nil
	})
}

package cli

import (
	"testing"

	"github.com/strata-io/strata/internal/acl"
)

func TestACLFlags(t *testing.T) {
	f := aclFlags{allowPrincipals: []string{"User:alice", "User:bob"}, denyPrincipals: []string{"User:eve"}, denyHosts: []string{"10.0.0.1"},
		operations: []string{"Read", "DescribeConfigs"}, topics: []string{"orders"}, cluster: true, patternType: "literal"}
	bs, err := f.bindings()
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 2*3*2 { // resources × principals × operations
		t.Fatalf("%d bindings: %v", len(bs), bs)
	}
	if b := bs[1]; b.Operation != acl.OpDescribeConfigs || b.Host != "*" || b.Permission != acl.PermAllow || b.ResourceName != "orders" {
		t.Errorf("binding %v", b)
	}
	if b := bs[len(bs)-1]; b.Principal != "User:eve" || b.Host != "10.0.0.1" || b.Permission != acl.PermDeny || b.ResourceType != acl.ResourceCluster {
		t.Errorf("binding %v", b)
	}
	for _, err := range []error{
		func() error {
			_, err := (&aclFlags{patternType: "literal", topics: []string{"t"}}).bindings()
			return err
		}(),
		func() error {
			_, err := (&aclFlags{patternType: "literal", allowPrincipals: []string{"User:a"}}).bindings()
			return err
		}(),
		func() error {
			_, err := (&aclFlags{patternType: "match", topics: []string{"t"}, allowPrincipals: []string{"User:a"}}).bindings()
			return err
		}(),
		func() error {
			_, err := (&aclFlags{patternType: "literal", topics: []string{"t"}, allowPrincipals: []string{"User:a"}, operations: []string{"Fly"}}).bindings()
			return err
		}(),
		func() error { _, err := (&aclFlags{patternType: "any"}).filters(true); return err }(),
	} {
		if err == nil {
			t.Error("bad flags accepted")
		}
	}
	fs, err := (&aclFlags{patternType: "any"}).filters(false)
	if err != nil || len(fs) != 1 || fs[0].ResourceType != acl.ResourceAny || fs[0].Principal != nil || fs[0].Operation != acl.OpAny {
		t.Fatalf("list everything: %+v, %v", fs, err)
	}
	fs, err = (&aclFlags{patternType: "match", principals: []string{"User:alice"}, topics: []string{"a", "b"}}).filters(false)
	if err != nil || len(fs) != 2 || *fs[1].ResourceName != "b" || *fs[1].Principal != "User:alice" || fs[1].PatternType != acl.PatternMatch {
		t.Fatalf("list by principal and topics: %+v, %v", fs, err)
	}
}

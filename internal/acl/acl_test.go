package acl

import (
	"testing"

	"github.com/strata-io/strata/internal/auth"
)

func allow(rt ResourceType, pt PatternType, name, principal, host string, op Operation) Binding {
	return Binding{ResourceType: rt, ResourceName: name, PatternType: pt, Principal: principal, Host: host, Operation: op, Permission: PermAllow}
}

func deny(rt ResourceType, pt PatternType, name, principal, host string, op Operation) Binding {
	b := allow(rt, pt, name, principal, host, op)
	b.Permission = PermDeny
	return b
}

func TestAuthorize(t *testing.T) {
	alice, bob, admin := auth.User("alice"), auth.User("bob"), auth.User("admin")
	src := StaticSource{
		allow(ResourceTopic, PatternLiteral, "orders", "User:alice", "*", OpRead),
		allow(ResourceTopic, PatternPrefixed, "logs-", "User:alice", "*", OpWrite),
		deny(ResourceTopic, PatternLiteral, "logs-secret", "User:alice", "*", OpWrite),
		allow(ResourceTopic, PatternLiteral, "*", "User:*", "127.0.0.3", OpDescribe),
		allow(ResourceGroup, PatternPrefixed, "app-", "User:bob", "*", OpAll),
		deny(ResourceGroup, PatternLiteral, "app-x", "User:bob", "*", OpRead),
		allow(ResourceCluster, PatternLiteral, ClusterName, "User:bob", "*", OpAlterConfigs),
		allow(ResourceTopic, PatternLiteral, "denied-read", "User:bob", "*", OpAll),
		deny(ResourceTopic, PatternLiteral, "denied-read", "User:bob", "*", OpRead),
	}
	a := New(Config{Enabled: true, SuperUsers: []auth.Principal{admin}}, src)
	for _, c := range []struct {
		p    auth.Principal
		host string
		op   Operation
		rt   ResourceType
		name string
		want bool
	}{
		{alice, "127.0.0.2", OpRead, ResourceTopic, "orders", true},
		{alice, "127.0.0.2", OpDescribe, ResourceTopic, "orders", true}, // READ implies DESCRIBE
		{alice, "127.0.0.2", OpWrite, ResourceTopic, "orders", false},
		{bob, "127.0.0.2", OpRead, ResourceTopic, "orders", false},
		{alice, "127.0.0.2", OpWrite, ResourceTopic, "logs-app", true},
		{alice, "127.0.0.2", OpWrite, ResourceTopic, "logs-secret", false}, // DENY wins
		{alice, "127.0.0.2", OpDescribe, ResourceTopic, "logs-secret", true},
		{alice, "127.0.0.2", OpWrite, ResourceTopic, "log", false},
		{bob, "127.0.0.3", OpDescribe, ResourceTopic, "anything", true}, // wildcard topic, principal, host ACL
		{bob, "127.0.0.2", OpDescribe, ResourceTopic, "anything", false},
		{bob, "127.0.0.2", OpRead, ResourceGroup, "app-1", true},
		{bob, "127.0.0.2", OpDelete, ResourceGroup, "app-1", true},
		{bob, "127.0.0.2", OpRead, ResourceGroup, "app-x", false},
		{bob, "127.0.0.2", OpDescribe, ResourceGroup, "app-x", true}, // a DENY of READ does not deny DESCRIBE
		{bob, "127.0.0.2", OpDescribeConfigs, ResourceCluster, ClusterName, true},
		{bob, "127.0.0.2", OpAlter, ResourceCluster, ClusterName, false},
		{bob, "127.0.0.2", OpWrite, ResourceTopic, "denied-read", true},
		{bob, "127.0.0.2", OpRead, ResourceTopic, "denied-read", false},
		{admin, "10.0.0.1", OpDelete, ResourceCluster, ClusterName, true}, // super user
		{alice, "127.0.0.2", OpRead, ResourceGroup, "nothing", false},     // no ACL: deny
	} {
		if got := a.Authorize(c.p, c.host, c.op, c.rt, c.name); got != c.want {
			t.Errorf("%v@%s %s %s:%s = %v, want %v", c.p, c.host, c.op, c.rt, c.name, got, c.want)
		}
	}
	if !New(Config{}, src).Authorize(bob, "1.2.3.4", OpDelete, ResourceCluster, ClusterName) {
		t.Error("disabled authorizer denied")
	}
	var nilA *Authorizer
	if !nilA.Authorize(bob, "", OpAll, ResourceTopic, "x") {
		t.Error("nil authorizer denied")
	}
	if !a.AuthorizeAny(alice, "127.0.0.2", OpWrite, ResourceTopic) || a.AuthorizeAny(bob, "127.0.0.2", OpWrite, ResourceTransactionalID) {
		t.Error("AuthorizeAny")
	}
	d := New(Config{Enabled: true}, StaticSource{allow(ResourceTopic, PatternLiteral, "t", "User:alice", "*", OpWrite),
		deny(ResourceTopic, PatternLiteral, "*", "User:alice", "*", OpWrite)})
	if d.AuthorizeAny(alice, "127.0.0.2", OpWrite, ResourceTopic) {
		t.Error("AuthorizeAny ignored a wildcard DENY")
	}
}

func TestFilterMatches(t *testing.T) {
	lit := allow(ResourceTopic, PatternLiteral, "orders", "User:alice", "*", OpRead)
	wild := allow(ResourceTopic, PatternLiteral, "*", "User:alice", "*", OpRead)
	pre := allow(ResourceTopic, PatternPrefixed, "ord", "User:alice", "*", OpRead)
	other := allow(ResourceGroup, PatternLiteral, "orders", "User:bob", "*", OpRead)
	s := func(v string) *string { return &v }
	all := Filter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpAny, Permission: PermAny}
	for _, c := range []struct {
		f    Filter
		want []bool // lit, wild, pre, other
	}{
		{all, []bool{true, true, true, true}},
		{Filter{ResourceType: ResourceTopic, PatternType: PatternMatch, ResourceName: s("orders"), Operation: OpAny, Permission: PermAny}, []bool{true, true, true, false}},
		{Filter{ResourceType: ResourceTopic, PatternType: PatternAny, ResourceName: s("orders"), Operation: OpAny, Permission: PermAny}, []bool{true, false, false, false}},
		{Filter{ResourceType: ResourceAny, PatternType: PatternLiteral, Operation: OpAny, Permission: PermAny}, []bool{true, true, false, true}},
		{Filter{ResourceType: ResourceAny, PatternType: PatternPrefixed, ResourceName: s("ord"), Operation: OpAny, Permission: PermAny}, []bool{false, false, true, false}},
		{Filter{ResourceType: ResourceAny, PatternType: PatternAny, Principal: s("User:bob"), Operation: OpAny, Permission: PermAny}, []bool{false, false, false, true}},
		{Filter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpWrite, Permission: PermAny}, []bool{false, false, false, false}},
		{Filter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpAny, Permission: PermDeny}, []bool{false, false, false, false}},
	} {
		for i, b := range []Binding{lit, wild, pre, other} {
			if got := c.f.Matches(b); got != c.want[i] {
				t.Errorf("filter %+v on %v = %v, want %v", c.f, b, got, c.want[i])
			}
		}
	}
}

func TestValidate(t *testing.T) {
	good := allow(ResourceTopic, PatternLiteral, "orders", "User:alice", "*", OpRead)
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, mut := range []func(*Binding){
		func(b *Binding) { b.ResourceType = ResourceAny },
		func(b *Binding) { b.PatternType = PatternMatch },
		func(b *Binding) { b.ResourceName = "" },
		func(b *Binding) { b.Principal = "alice" },
		func(b *Binding) { b.Host = "not-an-ip" },
		func(b *Binding) { b.Operation = OpAny },
		func(b *Binding) { b.Permission = PermAny },
		func(b *Binding) { b.ResourceType, b.ResourceName = ResourceCluster, "x" },
		func(b *Binding) { b.PatternType, b.ResourceName = PatternPrefixed, "*" },
	} {
		b := good
		mut(&b)
		if b.Validate() == nil {
			t.Errorf("%v accepted", b)
		}
	}
	if op, ok := ParseOperation("describe-configs"); !ok || op != OpDescribeConfigs {
		t.Error("ParseOperation")
	}
	if su, err := ParseSuperUsers("User:admin; User:ops"); err != nil || len(su) != 2 || su[1] != auth.User("ops") {
		t.Errorf("ParseSuperUsers = %v, %v", su, err)
	}
}

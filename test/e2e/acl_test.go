package e2e

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The binary's --authorizer and --super-users, and `strata acl` against
// them: what the CLI creates kadm describes and kcat is held to. Every
// client here is User:ANONYMOUS (no SASL), the super user; the ACLs name
// other principals, so an ACL that applied to ANONYMOUS would show.
// Principals and enforcement in depth: services/gateway/acl_cluster_test.go.
func TestACLCLI(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 1, gatewayArgs: []string{"--authorizer", "--super-users", "User:ANONYMOUS;User:ops"}})
	c.admin("topic", "create", "orders", "--partitions", "1", "--replication-factor", "1")
	if out := c.admin("acl", "create", "--allow-principal", "User:alice", "--operation", "Read", "--operation", "Write", "--topic", "orders"); !strings.Contains(out, "Created 2 ACLs") {
		t.Fatalf("acl create: %q", out)
	}
	c.admin("acl", "create", "--deny-principal", "User:alice", "--deny-host", "10.0.0.7", "--topic", "logs-", "--resource-pattern-type", "prefixed")
	var listed []struct {
		Principal, Host, Operation, Permission string
		ResourceType                           string `json:"resource_type"`
		ResourceName                           string `json:"resource_name"`
		PatternType                            string `json:"pattern_type"`
	}
	c.adminJSON(&listed, "acl", "list", "--topic", "logs-app", "--resource-pattern-type", "match", "--output", "json")
	if len(listed) != 1 || listed[0].Permission != "DENY" || listed[0].Host != "10.0.0.7" || listed[0].PatternType != "PREFIXED" || listed[0].Operation != "ALL" {
		t.Fatalf("acl list --topic logs-app --resource-pattern-type match: %+v", listed)
	}
	if out := c.adminFails("acl", "create", "--allow-principal", "alice", "--topic", "x"); !strings.Contains(out, "Type:name") {
		t.Errorf("a bad principal: %q", out)
	}
	if out := c.adminFails("acl", "delete"); !strings.Contains(out, "name what to delete") {
		t.Errorf("delete without filters: %q", out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	described, err := adm.DescribeACLs(ctx, kadm.NewACLs().Allow("User:alice").AllowHosts().Topics("orders").
		ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpAny))
	if err != nil || len(described) != 1 || described[0].Err != nil || len(described[0].Described) != 2 {
		t.Fatalf("kadm DescribeACLs of what the CLI created: %+v, %v", described, err)
	}
	// The super user produces and lists; the ACLs of alice do not apply.
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatalf("super user produce: %v", err)
	}
	if out, err := exec.CommandContext(ctx, "kcat", "-b", c.kafka, "-L", "-t", "orders").CombinedOutput(); err != nil || !strings.Contains(string(out), `topic "orders"`) {
		t.Fatalf("kcat -L: %v %s", err, out)
	}

	if out := c.admin("acl", "delete", "--allow-principal", "User:alice", "--topic", "orders"); !strings.Contains(out, "Deleted 2 ACLs") {
		t.Fatalf("acl delete: %q", out)
	}
	if out := c.admin("acl", "list", "--principal", "User:alice", "--topic", "orders"); !strings.Contains(out, "No ACLs") {
		t.Fatalf("acl list after delete: %q", out)
	}
}

// A gateway with --authorizer and no ACL for User:ANONYMOUS refuses it
// everything: kcat's produce, Metadata (no topics), the CLI.
func TestACLAuthorizerDeniesAnonymous(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 1, gatewayArgs: []string{"--authorizer", "--super-users", "User:admin"}})
	if out := c.adminFails("topic", "create", "orders", "--partitions", "1", "--replication-factor", "1"); !strings.Contains(out, "may not CREATE") {
		t.Errorf("topic create: %q", out)
	}
	if out := c.adminFails("acl", "list"); !strings.Contains(out, "may not DESCRIBE CLUSTER") {
		t.Errorf("acl list: %q", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.kafka), kgo.RecordRetries(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("v")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Errorf("anonymous produce: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	out, err := exec.CommandContext(ctx, "kcat", "-b", c.kafka, "-L").CombinedOutput()
	if err != nil || !strings.Contains(string(out), " 0 topics:") {
		t.Errorf("kcat -L: %v %s", err, out)
	}
}

package controller

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	"github.com/strata-io/strata/internal/certs"
	"github.com/strata-io/strata/internal/rpc"
	"github.com/strata-io/strata/internal/testutil"
	"github.com/strata-io/strata/internal/tlsconf"
	"github.com/strata-io/strata/services/controller/mdstore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// dialAs dials the controller with the certificate dir/name.crt.
func dialAs(t *testing.T, dir, name, addr string) controllerv1.ControllerServiceClient {
	t.Helper()
	tl, err := tlsconf.Load(tlsconf.Config{CertFile: filepath.Join(dir, name+".crt"), KeyFile: filepath.Join(dir, name+".key"),
		CAFile: filepath.Join(dir, "ca.crt"), ClientAuth: tlsconf.AuthNone})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := rpc.DialCreds(tl.ClientCreds(), addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return controllerv1.NewControllerServiceClient(conn)
}

func wantDenied(t *testing.T, what string, err error) {
	t.Helper()
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("%s: %v, want PERMISSION_DENIED", what, err)
	}
}

// A storage node's certificate lets it speak only for its own node id.
func TestStorageCertificateSpeaksOnlyForItsNode(t *testing.T) {
	dir := t.TempDir()
	if err := certs.WriteCluster(dir, nil, 3, time.Hour); err != nil {
		t.Fatal(err)
	}
	c, _ := startTestController(t, "--tls-cert", filepath.Join(dir, "controller.crt"), "--tls-key", filepath.Join(dir, "controller.key"),
		"--tls-ca", filepath.Join(dir, "ca.crt"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	testutil.WaitFor(t, 30*time.Second, func() error { return c.ready() })

	as2 := dialAs(t, dir, "storage-2", c.Addr())
	_, err := as2.RegisterStorageNode(ctx, &controllerv1.RegisterStorageNodeRequest{NodeId: 3, Address: "127.0.0.1:1"})
	wantDenied(t, "register as 3", err)
	_, err = as2.RegisterStorageNode(ctx, &controllerv1.RegisterStorageNodeRequest{NodeId: 0, Address: "127.0.0.1:1"})
	wantDenied(t, "register as a new node", err)
	// Node 3 exists (it registered with its own certificate), so the
	// denials below are not just unknown ids.
	as3 := dialAs(t, dir, "storage-3", c.Addr())
	reg3, err := as3.RegisterStorageNode(ctx, &controllerv1.RegisterStorageNodeRequest{NodeId: 3, Address: "127.0.0.1:3"})
	if err != nil || reg3.GetNodeId() != 3 {
		t.Fatalf("node 3 registering with its certificate: %v %v", reg3, err)
	}
	reg2, err := as2.RegisterStorageNode(ctx, &controllerv1.RegisterStorageNodeRequest{NodeId: 2, Address: "127.0.0.1:2"})
	if err != nil || reg2.GetNodeId() != 2 {
		t.Fatalf("node 2 registering with its certificate: %v %v", reg2, err)
	}
	before, err := c.cli.Get(ctx, mdstore.NodeKey(3))
	if err != nil {
		t.Fatal(err)
	}
	_, err = as2.RegisterStorageNode(ctx, &controllerv1.RegisterStorageNodeRequest{NodeId: 3, Address: "127.0.0.1:666"})
	wantDenied(t, "re-register 3 at another address", err)
	_, err = as2.Heartbeat(ctx, &controllerv1.HeartbeatRequest{Kind: controllerv1.MemberKind_MEMBER_KIND_STORAGE_NODE, Id: 3, Epoch: reg3.GetNodeEpoch()})
	wantDenied(t, "heartbeat as 3", err)
	_, err = as2.Unregister(ctx, &controllerv1.UnregisterRequest{Kind: controllerv1.MemberKind_MEMBER_KIND_STORAGE_NODE, Id: 3, Epoch: reg3.GetNodeEpoch()})
	wantDenied(t, "unregister 3", err)
	_, err = as2.AlterPartition(ctx, &controllerv1.AlterPartitionRequest{NodeId: 3, NodeEpoch: reg3.GetNodeEpoch(), Topic: "t", NewIsr: []int32{3}})
	wantDenied(t, "shrink an ISR as 3", err)
	_, err = as2.ControlledShutdown(ctx, &controllerv1.ControlledShutdownRequest{NodeId: 3, NodeEpoch: reg3.GetNodeEpoch()})
	wantDenied(t, "shut node 3 down", err)
	_, err = as2.ReportReplicaStates(ctx, &controllerv1.ReportReplicaStatesRequest{NodeId: 3, NodeEpoch: reg3.GetNodeEpoch()})
	wantDenied(t, "report node 3's replicas", err)
	_, err = as2.RegisterGateway(ctx, &controllerv1.RegisterGatewayRequest{KafkaAddress: "127.0.0.1:1", GrpcAddress: "127.0.0.1:2"})
	wantDenied(t, "register a gateway", err)
	after, err := c.cli.Get(ctx, mdstore.NodeKey(3))
	if err != nil {
		t.Fatal(err)
	}
	if after.Kvs[0].ModRevision != before.Kvs[0].ModRevision {
		t.Error("node 3's record changed")
	}
	if alive, _ := c.cli.Get(ctx, mdstore.AliveKey(3)); len(alive.Kvs) != 1 {
		t.Error("node 3's lease is gone")
	}
	// Its own heartbeat still works.
	if _, err := as2.Heartbeat(ctx, &controllerv1.HeartbeatRequest{Kind: controllerv1.MemberKind_MEMBER_KIND_STORAGE_NODE, Id: 2, Epoch: reg2.GetNodeEpoch()}); err != nil {
		t.Errorf("node 2's own heartbeat: %v", err)
	}

	// Admin calls are the gateways'; a storage node or a user's
	// certificate gets none.
	for _, name := range []string{"storage-2", "client"} {
		tl, _ := tlsconf.Load(tlsconf.Config{CertFile: filepath.Join(dir, name+".crt"), KeyFile: filepath.Join(dir, name+".key"),
			CAFile: filepath.Join(dir, "ca.crt"), ClientAuth: tlsconf.AuthNone})
		conn, err := rpc.DialCreds(tl.ClientCreds(), c.Addr())
		if err != nil {
			t.Fatal(err)
		}
		_, err = adminv1.NewAdminServiceClient(conn).CreateTopic(ctx, &adminv1.CreateTopicRequest{Name: "x", Partitions: 1, ReplicationFactor: 1})
		wantDenied(t, name+" creating a topic", err)
		if err := rpc.CheckHealthCreds(ctx, tl.ClientCreds(), c.Addr()); err != nil {
			t.Errorf("%s: health: %v", name, err)
		}
		conn.Close()
	}
	gw := dialAs(t, dir, "gateway", c.Addr())
	if _, err := gw.RegisterGateway(ctx, &controllerv1.RegisterGatewayRequest{KafkaAddress: "127.0.0.1:1", GrpcAddress: "127.0.0.1:2"}); err != nil {
		t.Errorf("gateway registering: %v", err)
	}

	// Without a certificate nothing answers, not even health.
	plain, err := rpc.Dial(c.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
	defer cancelShort()
	if _, err := controllerv1.NewControllerServiceClient(plain).RegisterStorageNode(short,
		&controllerv1.RegisterStorageNodeRequest{NodeId: 3, Address: "127.0.0.1:1"}); err == nil {
		t.Error("a plaintext call was answered")
	}
	if err := rpc.CheckHealth(short, c.Addr()); err == nil {
		t.Error("a plaintext health check was answered")
	}
}

package gateway_test

// ACLs on a real cluster in one process: a controller, a storage node and
// three gateways (two enforcing, one with the authorizer off). Kafka
// clients get their principal from their source address (127.0.0.1 is the
// super user, .2 alice, .3 bob: the principal builder hook), gRPC calls
// from a test-only header, REST is anonymous.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	"github.com/strata-io/strata/internal/auth"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/rpc"
	"github.com/strata-io/strata/internal/testutil"
	"github.com/strata-io/strata/services/controller"
	"github.com/strata-io/strata/services/gateway"
	"github.com/strata-io/strata/services/storage"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpcmd "google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

func defaults[C any](register func(*C, *pflag.FlagSet)) C {
	var c C
	register(&c, pflag.NewFlagSet("defaults", pflag.ContinueOnError))
	return c
}

// byIP is the test's principal builder: the client's source address names it.
func byIP(nc net.Conn) auth.Principal {
	host, _, _ := net.SplitHostPort(nc.RemoteAddr().String())
	switch host {
	case "127.0.0.1":
		return auth.User("admin")
	case "127.0.0.2":
		return auth.User("alice")
	case "127.0.0.3":
		return auth.User("bob")
	}
	return auth.Anonymous
}

// testPrincipalHeader names a gRPC caller in tests only.
const testPrincipalHeader = "x-test-principal"

func headerPrincipal(ctx context.Context) context.Context {
	if md, ok := grpcmd.FromIncomingContext(ctx); ok {
		if v := md.Get(testPrincipalHeader); len(v) == 1 {
			if p, err := auth.Parse(v[0]); err == nil {
				return auth.NewContext(ctx, p)
			}
		}
	}
	return ctx
}

type wrapped struct {
	grpc.ServerStream
	ctx context.Context
}

func (w wrapped) Context() context.Context { return w.ctx }

type aclCluster struct {
	ctrl  string
	gws   []*gateway.Gateway
	kafka []string // Kafka address of each gateway
}

func startACLCluster(t *testing.T) *aclCluster {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	cc := defaults((*controller.Config).RegisterFlags)
	cc.Name, cc.DataDir = "acl", filepath.Join(dir, "controller")
	cc.GRPCAddr, cc.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	cc.EtcdPeerAddr, cc.EtcdClientAddr = testutil.FreeAddr(t), testutil.FreeAddr(t)
	ctrl, err := controller.Start(cc, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ctrl.Stop)
	sc := defaults((*storage.Config).RegisterFlags)
	sc.DataDir = filepath.Join(dir, "storage")
	sc.GRPCAddr, sc.HTTPAddr, sc.Controllers = "127.0.0.1:0", "127.0.0.1:0", []string{ctrl.Addr()}
	node, err := storage.Start(sc, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(node.Stop)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := node.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	c := &aclCluster{ctrl: ctrl.Addr()}
	c.startGateway(t, true)
	c.startGateway(t, true)
	return c
}

// startGateway adds a gateway, enforcing ACLs or not.
func (c *aclCluster) startGateway(t *testing.T, enforce bool) {
	t.Helper()
	gc := defaults((*gateway.Config).RegisterFlags)
	gc.GRPCAddr, gc.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	gc.KafkaAddr = testutil.FreeAddr(t)
	gc.AdvertiseKafka, gc.Controllers = gc.KafkaAddr, []string{c.ctrl}
	gc.Authorizer, gc.SuperUsers = enforce, "User:admin"
	gc.KafkaPrincipal = byIP
	gc.AuthnUnary = func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		return h(headerPrincipal(ctx), req)
	}
	gc.AuthnStream = func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		return h(srv, wrapped{ss, headerPrincipal(ss.Context())})
	}
	gw, err := gateway.Start(gc, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gw.Stop)
	c.gws, c.kafka = append(c.gws, gw), append(c.kafka, gc.KafkaAddr)
}

// kafkaClient connects to gateway gw from source address ip.
func (c *aclCluster) kafkaClient(t *testing.T, gw int, ip string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.kafka[gw]), kgo.Dialer(d.DialContext),
		kgo.RequestRetries(2), kgo.RetryTimeout(3 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func produce(ctx context.Context, cl *kgo.Client, topic string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr()
}

func TestACLsEnforced(t *testing.T) {
	c := startACLCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin := kadm.NewClient(c.kafkaClient(t, 0, "127.0.0.1"))
	if _, err := admin.CreateTopics(ctx, 1, 1, nil, "orders", "logs-app", "secret", "public"); err != nil {
		t.Fatal(err)
	}
	must := func(b *kadm.ACLBuilder) {
		t.Helper()
		res, err := admin.CreateACLs(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatalf("CreateACLs %+v: %v", r, r.Err)
			}
		}
	}
	must(kadm.NewACLs().Allow("User:alice").Topics("orders").Operations(kadm.OpRead, kadm.OpWrite).ResourcePatternType(kadm.ACLPatternLiteral))
	must(kadm.NewACLs().Allow("User:alice").Topics("logs-").Operations(kadm.OpWrite).ResourcePatternType(kadm.ACLPatternPrefixed))
	must(kadm.NewACLs().Allow("User:alice").Groups("app-").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternPrefixed))
	must(kadm.NewACLs().Allow("User:bob").AllowHosts("127.0.0.3").Topics("*").Operations(kadm.OpDescribe).ResourcePatternType(kadm.ACLPatternLiteral))
	must(kadm.NewACLs().Allow("User:ANONYMOUS").Topics("public").Operations(kadm.OpAll).ResourcePatternType(kadm.ACLPatternLiteral))

	// A bad binding is refused on its own.
	if res, err := admin.CreateACLs(ctx, kadm.NewACLs().Allow("alice").Topics("x").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral)); err != nil ||
		len(res) != 1 || !errors.Is(res[0].Err, kerr.InvalidRequest) {
		t.Fatalf("bad principal: %+v, %v", res, err)
	}
	// DescribeAcls with MATCH finds the literal, the wildcard and the prefix.
	described, err := admin.DescribeACLs(ctx, kadm.NewACLs().Topics("logs-app").ResourcePatternType(kadm.ACLPatternMatch).
		Operations(kadm.OpAny).Allow().AllowHosts())
	if err != nil {
		t.Fatal(err)
	}
	if len(described) != 1 || described[0].Err != nil || len(described[0].Described) != 2 {
		t.Fatalf("DescribeACLs MATCH logs-app: %+v", described)
	}

	// gRPC calls are not redirected, so they show what one gateway
	// enforces: the second one follows the ACLs through its watch.
	conn1, err := rpc.Dial(c.gws[1].GRPCAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn1.Close()
	aliceProduce1 := func() error {
		_, err := streamv1.NewStreamServiceClient(conn1).Produce(grpcmd.AppendToOutgoingContext(ctx, testPrincipalHeader, "User:alice"),
			&streamv1.ProduceRequest{Topic: "orders", Records: []*streamv1.ProduceRecord{{Value: []byte("g")}}})
		return err
	}
	testutil.WaitFor(t, 20*time.Second, aliceProduce1)

	t.Run("kafka", func(t *testing.T) {
		alice := c.kafkaClient(t, 0, "127.0.0.2")
		if err := produce(ctx, alice, "logs-app"); err != nil {
			t.Errorf("alice WRITE logs-app (prefixed): %v", err)
		}
		if err := produce(ctx, alice, "secret"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Errorf("alice WRITE secret: %v, want TOPIC_AUTHORIZATION_FAILED", err)
		}
		aadm := kadm.NewClient(alice)
		md, err := aadm.Metadata(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := md.Topics.Names(); !slices.Equal(sorted(got), []string{"logs-app", "orders"}) {
			t.Errorf("alice's metadata lists %v", got)
		}
		if r, err := aadm.CreateTopics(ctx, 1, 1, nil, "alices"); err != nil || !errors.Is(r["alices"].Err, kerr.TopicAuthorizationFailed) {
			t.Errorf("alice CreateTopics: %+v, %v", r, err)
		}
		if r, err := aadm.DescribeACLs(ctx, kadm.NewACLs().AnyResource().ResourcePatternType(kadm.ACLPatternAny).Operations(kadm.OpAny).Allow().AllowHosts()); err != nil ||
			len(r) != 1 || !errors.Is(r[0].Err, kerr.ClusterAuthorizationFailed) {
			t.Errorf("alice DescribeACLs: %+v, %v", r, err)
		}
		// bob from .3 describes every topic; from .2 (as... alice) no; bob
		// may not write anywhere (no IDEMPOTENT_WRITE, no WRITE).
		bob := c.kafkaClient(t, 0, "127.0.0.3")
		md, err = kadm.NewClient(bob).Metadata(ctx)
		if err != nil || len(md.Topics.Names()) != 4 {
			t.Errorf("bob's metadata: %v, %v", md.Topics.Names(), err)
		}
		if err := produce(ctx, bob, "orders"); err == nil {
			t.Error("bob wrote to orders")
		}
		// Consuming in a group: READ on the group (app-*) and the topic.
		cons := c.kafkaClient(t, 0, "127.0.0.2", kgo.ConsumerGroup("app-1"), kgo.ConsumeTopics("orders"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		pctx, pcancel := context.WithTimeout(ctx, 20*time.Second)
		fs := cons.PollFetches(pctx)
		pcancel()
		if err := fs.Err(); err != nil || fs.NumRecords() == 0 {
			t.Errorf("alice consuming orders in app-1: %d records, %v", fs.NumRecords(), err)
		}
		if err := cons.CommitUncommittedOffsets(ctx); err != nil {
			t.Errorf("alice commit in app-1: %v", err)
		}
		other := c.kafkaClient(t, 0, "127.0.0.2", kgo.ConsumerGroup("other"), kgo.ConsumeTopics("orders"))
		pctx, pcancel = context.WithTimeout(ctx, 10*time.Second)
		fs = other.PollFetches(pctx)
		pcancel()
		if err := fs.Err(); !errors.Is(err, kerr.GroupAuthorizationFailed) {
			t.Errorf("alice in group other: %v, want GROUP_AUTHORIZATION_FAILED", err)
		}
		direct := c.kafkaClient(t, 0, "127.0.0.2", kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
			"secret": {0: kgo.NewOffset().AtStart()}}))
		pctx, pcancel = context.WithTimeout(ctx, 10*time.Second)
		fs = direct.PollFetches(pctx)
		pcancel()
		if err := fs.Err(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Errorf("alice fetching secret: %v, want TOPIC_AUTHORIZATION_FAILED", err)
		}

		// DENY wins, and DeleteAcls takes it away again, on every gateway.
		must(kadm.NewACLs().Deny("User:alice").Topics("orders").Operations(kadm.OpWrite).ResourcePatternType(kadm.ACLPatternLiteral))
		testutil.WaitFor(t, 20*time.Second, func() error {
			if err := aliceProduce1(); !errs.Is(err, errs.TopicAuthorizationFailed) {
				return fmt.Errorf("alice WRITE orders after DENY, second gateway: %v", err)
			}
			return nil
		})
		if err := produce(ctx, alice, "orders"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Errorf("alice WRITE orders after DENY over Kafka: %v", err)
		}
		del, err := admin.DeleteACLs(ctx, kadm.NewACLs().Deny("User:alice").Topics("orders").Operations(kadm.OpAny).
			ResourcePatternType(kadm.ACLPatternLiteral).DenyHosts())
		if err != nil || len(del) != 1 || len(del[0].Deleted) != 1 {
			t.Fatalf("DeleteACLs: %+v, %v", del, err)
		}
		testutil.WaitFor(t, 20*time.Second, aliceProduce1)
	})

	t.Run("matrix", func(t *testing.T) { testKafkaMatrix(ctx, t, c, must) })

	t.Run("grpc", func(t *testing.T) {
		conn, err := rpc.Dial(c.gws[0].GRPCAddr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		as := func(p string) context.Context { return grpcmd.AppendToOutgoingContext(ctx, testPrincipalHeader, p) }
		stream, adm, acls := streamv1.NewStreamServiceClient(conn), adminv1.NewAdminServiceClient(conn), adminv1.NewAclServiceClient(conn)
		rec := []*streamv1.ProduceRecord{{Value: []byte("g")}}
		for _, c := range []struct {
			who, topic string
			want       errs.Code // 0: allowed
		}{
			{"User:alice", "orders", 0},
			{"User:alice", "logs-x", 0},
			{"User:alice", "secret", errs.TopicAuthorizationFailed},
			{"User:bob", "orders", errs.TopicAuthorizationFailed},
			{"User:admin", "secret", 0},
			{"User:ANONYMOUS", "public", 0},
		} {
			_, err := stream.Produce(as(c.who), &streamv1.ProduceRequest{Topic: c.topic, Records: rec})
			if c.topic == "logs-x" && errs.Is(err, errs.UnknownTopicOrPartition) {
				err = nil // authorized; the topic does not exist
			}
			switch {
			case c.want == 0 && err != nil:
				t.Errorf("%s Produce %s: %v", c.who, c.topic, err)
			case c.want != 0 && (status.Code(err) != codes.PermissionDenied || !errs.Is(err, c.want)):
				t.Errorf("%s Produce %s: %v, want PERMISSION_DENIED %v", c.who, c.topic, err, c.want)
			}
		}
		groups := streamv1.NewGroupServiceClient(conn)
		fetch := &streamv1.FetchRequest{Partitions: []*streamv1.FetchPartition{{Topic: "orders", Partition: 0,
			Start: &streamv1.FetchPartition_Offset{Offset: 0}}}, MaxWait: durationpb.New(0)}
		listOffsets := func(topic string) *streamv1.ListOffsetsRequest {
			return &streamv1.ListOffsetsRequest{Partitions: []*streamv1.ListOffsetsPartition{{Topic: topic, Partition: 0,
				Query: &streamv1.ListOffsetsPartition_Position{Position: streamv1.LogPosition_LOG_POSITION_LATEST}}}}
		}
		for _, c := range []struct {
			name string
			who  string
			call func(ctx context.Context) error
			want errs.Code
		}{
			{"Fetch orders", "User:alice", func(ctx context.Context) error { _, err := stream.Fetch(ctx, fetch); return err }, 0},
			{"Fetch orders", "User:bob", func(ctx context.Context) error { _, err := stream.Fetch(ctx, fetch); return err }, errs.TopicAuthorizationFailed},
			{"ListOffsets secret", "User:alice", func(ctx context.Context) error { _, err := stream.ListOffsets(ctx, listOffsets("secret")); return err }, errs.TopicAuthorizationFailed},
			{"ListOffsets orders", "User:alice", func(ctx context.Context) error { _, err := stream.ListOffsets(ctx, listOffsets("orders")); return err }, 0},
			{"DescribeGroup app-1", "User:alice", func(ctx context.Context) error {
				_, err := groups.DescribeGroup(ctx, &streamv1.DescribeGroupRequest{GroupId: "app-1"})
				return err
			}, 0},
			{"DescribeGroup app-1", "User:bob", func(ctx context.Context) error {
				_, err := groups.DescribeGroup(ctx, &streamv1.DescribeGroupRequest{GroupId: "app-1"})
				return err
			}, errs.GroupAuthorizationFailed},
			{"CommitOffsets app-2 secret", "User:alice", func(ctx context.Context) error {
				_, err := groups.CommitOffsets(ctx, &streamv1.CommitOffsetsRequest{GroupId: "app-2",
					Offsets: []*streamv1.OffsetToCommit{{Topic: "secret", Partition: 0, Offset: 0}}})
				return err
			}, errs.TopicAuthorizationFailed},
			{"DeleteGroup app-1", "User:alice", func(ctx context.Context) error {
				_, err := groups.DeleteGroup(ctx, &streamv1.DeleteGroupRequest{GroupId: "app-1"})
				return err
			}, errs.GroupAuthorizationFailed},
			{"AlterTopicConfigs orders", "User:alice", func(ctx context.Context) error {
				_, err := adm.AlterTopicConfigs(ctx, &adminv1.AlterTopicConfigsRequest{Name: "orders", ValidateOnly: true})
				return err
			}, errs.TopicAuthorizationFailed},
			{"CreateTopic", "User:alice", func(ctx context.Context) error {
				_, err := adm.CreateTopic(ctx, &adminv1.CreateTopicRequest{Name: "alices", Partitions: 1, ReplicationFactor: 1, ValidateOnly: true})
				return err
			}, errs.TopicAuthorizationFailed},
			{"Rebalance", "User:bob", func(ctx context.Context) error { _, err := adm.Rebalance(ctx, &adminv1.RebalanceRequest{}); return err }, errs.ClusterAuthorizationFailed},
			{"DescribeCluster", "User:bob", func(ctx context.Context) error {
				_, err := adm.DescribeCluster(ctx, &adminv1.DescribeClusterRequest{})
				return err
			}, 0}, // DESCRIBE on the cluster (the matrix gave it to bob)
		} {
			err := c.call(as(c.who))
			switch {
			case c.want == 0 && err != nil:
				t.Errorf("%s as %s: %v", c.name, c.who, err)
			case c.want != 0 && (status.Code(err) != codes.PermissionDenied || !errs.Is(err, c.want)):
				t.Errorf("%s as %s: %v, want PERMISSION_DENIED %v", c.name, c.who, err, c.want)
			}
		}
		lt, err := adm.ListTopics(as("User:alice"), &adminv1.ListTopicsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tp := range lt.GetTopics() {
			names = append(names, tp.GetName())
		}
		if !slices.Equal(sorted(names), []string{"logs-app", "orders"}) {
			t.Errorf("alice's ListTopics: %v", names)
		}
		if _, err := adm.DeleteTopic(as("User:alice"), &adminv1.DeleteTopicRequest{Name: "orders"}); !errs.Is(err, errs.TopicAuthorizationFailed) {
			t.Errorf("alice DeleteTopic: %v", err)
		}
		if _, err := acls.DescribeAcls(as("User:alice"), &adminv1.DescribeAclsRequest{}); !errs.Is(err, errs.ClusterAuthorizationFailed) {
			t.Errorf("alice DescribeAcls: %v", err)
		}
		if _, err := adm.DescribeCluster(as("User:admin"), &adminv1.DescribeClusterRequest{}); err != nil {
			t.Errorf("admin DescribeCluster: %v", err)
		}
		// A stream is checked on its opening message.
		ps, err := stream.ProduceStream(as("User:alice"))
		if err != nil {
			t.Fatal(err)
		}
		if err := ps.Send(&streamv1.ProduceStreamRequest{Message: &streamv1.ProduceStreamRequest_Open{Open: &streamv1.ProduceStreamOpen{Topic: "secret"}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := ps.Recv(); !errs.Is(err, errs.TopicAuthorizationFailed) {
			t.Errorf("alice ProduceStream secret: %v", err)
		}
	})

	t.Run("off", func(t *testing.T) { testAuthorizerOff(ctx, t, c) })

	t.Run("rest", func(t *testing.T) {
		get := func(path string) (int, string) {
			t.Helper()
			resp, err := http.Get("http://" + c.gws[0].HTTPAddr() + path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		code, body := get("/v1/topics")
		var lt struct {
			Topics []struct{ Name string } `json:"topics"`
		}
		if code != http.StatusOK || json.Unmarshal([]byte(body), &lt) != nil || len(lt.Topics) != 1 || lt.Topics[0].Name != "public" {
			t.Errorf("anonymous REST ListTopics: %d %s", code, body)
		}
		if code, body := get("/v1/topics/secret/offsets"); code != http.StatusForbidden || !strings.Contains(body, "TOPIC_AUTHORIZATION_FAILED") {
			t.Errorf("anonymous REST offsets of secret: %d %s", code, body)
		}
		if code, body := get("/v1/topics/public/offsets"); code != http.StatusOK {
			t.Errorf("anonymous REST offsets of public: %d %s", code, body)
		}
	})
}

// firstError is the first non-zero ErrorCode of a response, depth first
// from the top level.
func firstError(v reflect.Value) int16 {
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if f := v.FieldByName("ErrorCode"); f.IsValid() && f.Int() != 0 {
		return int16(f.Int())
	}
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		if f.Kind() != reflect.Slice || f.Type().Elem().Kind() != reflect.Struct {
			continue
		}
		for j := 0; j < f.Len(); j++ {
			if code := firstError(f.Index(j)); code != 0 {
				return code
			}
		}
	}
	return 0
}

// testKafkaMatrix sends one request per API and principal straight to a
// gateway and checks the error code Kafka would answer.
func testKafkaMatrix(ctx context.Context, t *testing.T, c *aclCluster, must func(*kadm.ACLBuilder)) {
	must(kadm.NewACLs().Allow("User:alice").TransactionalIDs("tx-").Operations(kadm.OpWrite).ResourcePatternType(kadm.ACLPatternPrefixed))
	must(kadm.NewACLs().Allow("User:bob").Clusters().Operations(kadm.OpDescribe).ResourcePatternType(kadm.ACLPatternLiteral))
	clients := map[string]*kgo.Client{}
	for who, ip := range map[string]string{"admin": "127.0.0.1", "alice": "127.0.0.2", "bob": "127.0.0.3", "anon": "127.0.0.4"} {
		clients[who] = c.kafkaClient(t, 0, ip)
	}
	testutil.WaitFor(t, 20*time.Second, func() error { // the new ACLs are in the gateway's cache
		resp, err := clients["alice"].SeedBrokers()[0].Request(ctx, &kmsg.InitProducerIDRequest{TransactionalID: kmsg.StringPtr("tx-1"), TransactionTimeoutMillis: 60000})
		if err != nil {
			return err
		}
		if code := firstError(reflect.ValueOf(resp)); code == errTxnAuthzCode {
			return fmt.Errorf("alice's InitProducerId still refused")
		}
		return nil
	})
	topicReq := func(topic string) []kmsg.ListOffsetsRequestTopic {
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp = -1
		rt.Partitions = append(rt.Partitions, rp)
		return []kmsg.ListOffsetsRequestTopic{rt}
	}
	md, err := kadm.NewClient(clients["admin"]).Metadata(ctx, "secret")
	if err != nil {
		t.Fatal(err)
	}
	secretID := [16]byte(md.Topics["secret"].ID)
	const (
		ok      = 0
		topic   = 29
		group   = 30
		cluster = 31
		txn     = 53
	)
	for _, row := range []struct {
		name string
		req  func() kmsg.Request
		want map[string]int16 // by principal
	}{
		{"ListOffsets orders (READ implies DESCRIBE; bob: DESCRIBE * from .3)", func() kmsg.Request {
			r := kmsg.NewPtrListOffsetsRequest()
			r.Topics = topicReq("orders")
			return r
		}, map[string]int16{"admin": ok, "alice": ok, "bob": ok, "anon": topic}},
		{"DescribeConfigs topic orders", func() kmsg.Request {
			r := kmsg.NewPtrDescribeConfigsRequest()
			rr := kmsg.NewDescribeConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "orders"
			r.Resources = append(r.Resources, rr)
			return r
		}, map[string]int16{"admin": ok, "alice": topic, "bob": topic}},
		{"IncrementalAlterConfigs topic orders", func() kmsg.Request {
			r := kmsg.NewPtrIncrementalAlterConfigsRequest()
			rr := kmsg.NewIncrementalAlterConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "orders"
			rc := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			rc.Name, rc.Value = "retention.ms", kmsg.StringPtr("86400000")
			rr.Configs = append(rr.Configs, rc)
			r.Resources = append(r.Resources, rr)
			r.ValidateOnly = true
			return r
		}, map[string]int16{"admin": ok, "alice": topic}},
		{"CreatePartitions orders", func() kmsg.Request {
			r := kmsg.NewPtrCreatePartitionsRequest()
			rt := kmsg.NewCreatePartitionsRequestTopic()
			rt.Topic, rt.Count = "orders", 2
			r.Topics, r.ValidateOnly, r.TimeoutMillis = append(r.Topics, rt), true, 10000
			return r
		}, map[string]int16{"admin": ok, "alice": topic}},
		{"DeleteRecords orders", func() kmsg.Request {
			r := kmsg.NewPtrDeleteRecordsRequest()
			rt := kmsg.NewDeleteRecordsRequestTopic()
			rt.Topic = "orders"
			rp := kmsg.NewDeleteRecordsRequestTopicPartition()
			rt.Partitions = append(rt.Partitions, rp)
			r.Topics, r.TimeoutMillis = append(r.Topics, rt), 10000
			return r
		}, map[string]int16{"admin": ok, "alice": topic}},
		{"DeleteTopics secret by topic id (v6)", func() kmsg.Request {
			r := kmsg.NewPtrDeleteTopicsRequest()
			rt := kmsg.NewDeleteTopicsRequestTopic()
			rt.TopicID = secretID
			r.Topics, r.TimeoutMillis = append(r.Topics, rt), 10000
			return r
		}, map[string]int16{"alice": topic, "bob": topic}},
		{"DescribeGroups app-1", func() kmsg.Request {
			r := kmsg.NewPtrDescribeGroupsRequest()
			r.Groups = []string{"app-1"}
			return r
		}, map[string]int16{"admin": ok, "alice": ok, "bob": group}},
		{"DeleteGroups app-zzz (READ does not imply DELETE)", func() kmsg.Request {
			r := kmsg.NewPtrDeleteGroupsRequest()
			r.Groups = []string{"app-zzz"}
			return r
		}, map[string]int16{"alice": group}},
		{"OffsetFetch app-1", func() kmsg.Request {
			r := kmsg.NewPtrOffsetFetchRequest()
			r.Group = "app-1"
			rg := kmsg.NewOffsetFetchRequestGroup()
			rg.Group = "app-1"
			r.Groups = append(r.Groups, rg)
			return r
		}, map[string]int16{"admin": ok, "alice": ok, "bob": group}},
		{"OffsetCommit app-9 secret (READ on the group, not the topic)", func() kmsg.Request {
			r := kmsg.NewPtrOffsetCommitRequest()
			r.Group, r.Generation = "app-9", -1
			rt := kmsg.NewOffsetCommitRequestTopic()
			rt.Topic = "secret"
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rt.Partitions = append(rt.Partitions, rp)
			r.Topics = append(r.Topics, rt)
			return r
		}, map[string]int16{"admin": ok, "alice": topic, "bob": group}},
		{"FindCoordinator group other", func() kmsg.Request {
			r := kmsg.NewPtrFindCoordinatorRequest()
			r.CoordinatorKey, r.CoordinatorKeys = "other", []string{"other"}
			return r
		}, map[string]int16{"admin": ok, "alice": group}},
		{"FindCoordinator transactional id tx-1", func() kmsg.Request {
			r := kmsg.NewPtrFindCoordinatorRequest()
			r.CoordinatorType, r.CoordinatorKey, r.CoordinatorKeys = 1, "tx-1", []string{"tx-1"}
			return r
		}, map[string]int16{"alice": ok, "bob": txn}},
		{"InitProducerId idempotent (IDEMPOTENT_WRITE or WRITE on a topic)", func() kmsg.Request {
			r := kmsg.NewPtrInitProducerIDRequest()
			r.TransactionTimeoutMillis = 60000
			return r
		}, map[string]int16{"admin": ok, "alice": ok, "bob": cluster}},
		{"InitProducerId transactional tx-1", func() kmsg.Request {
			r := kmsg.NewPtrInitProducerIDRequest()
			r.TransactionalID, r.TransactionTimeoutMillis = kmsg.StringPtr("tx-1"), 60000
			return r
		}, map[string]int16{"alice": ok, "bob": txn}},
		{"DescribeLogDirs (DESCRIBE on the cluster)", func() kmsg.Request { return kmsg.NewPtrDescribeLogDirsRequest() },
			map[string]int16{"admin": ok, "alice": cluster, "bob": ok}},
		{"ElectLeaders (ALTER on the cluster)", func() kmsg.Request {
			r := kmsg.NewPtrElectLeadersRequest()
			rt := kmsg.NewElectLeadersRequestTopic()
			rt.Topic, rt.Partitions = "orders", []int32{0}
			r.Topics, r.TimeoutMillis = append(r.Topics, rt), 10000
			return r
		}, map[string]int16{"alice": cluster, "bob": cluster}},
		{"DescribeClientQuotas (DESCRIBE_CONFIGS on the cluster)", func() kmsg.Request { return kmsg.NewPtrDescribeClientQuotasRequest() },
			map[string]int16{"admin": ok, "alice": cluster, "bob": cluster}},
		{"CreateAcls (ALTER on the cluster)", func() kmsg.Request {
			r := kmsg.NewPtrCreateACLsRequest()
			cr := kmsg.NewCreateACLsRequestCreation()
			cr.ResourceType, cr.ResourceName, cr.ResourcePatternType = kmsg.ACLResourceTypeTopic, "x", kmsg.ACLResourcePatternTypeLiteral
			cr.Principal, cr.Host, cr.Operation, cr.PermissionType = "User:bob", "*", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow
			r.Creations = append(r.Creations, cr)
			return r
		}, map[string]int16{"alice": cluster, "bob": cluster}},
		{"DescribeAcls (DESCRIBE on the cluster)", func() kmsg.Request {
			r := kmsg.NewPtrDescribeACLsRequest()
			r.ResourceType, r.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
			r.Operation, r.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
			return r
		}, map[string]int16{"admin": ok, "alice": cluster, "bob": ok}},
	} {
		for who, want := range row.want {
			resp, err := clients[who].SeedBrokers()[0].Request(ctx, row.req())
			if err != nil {
				t.Errorf("%s as %s: %v", row.name, who, err)
				continue
			}
			if got := firstError(reflect.ValueOf(resp)); got != want {
				t.Errorf("%s as %s: error %d, want %d", row.name, who, got, want)
			}
		}
	}
	// OffsetFetch of every topic of a group leaves out the topics the
	// principal may not describe (admin committed app-9's offset of secret).
	ofr := kmsg.NewPtrOffsetFetchRequest()
	ofr.Group = "app-9"
	ofg := kmsg.NewOffsetFetchRequestGroup()
	ofg.Group = "app-9"
	ofr.Groups = append(ofr.Groups, ofg)
	for who, want := range map[string]int{"admin": 1, "alice": 0} {
		resp, err := clients[who].SeedBrokers()[0].Request(ctx, ofr)
		if err != nil {
			t.Fatal(err)
		}
		or := resp.(*kmsg.OffsetFetchResponse)
		n := len(or.Topics)
		if len(or.Groups) == 1 {
			n = len(or.Groups[0].Topics)
		}
		if n != want {
			t.Errorf("OffsetFetch app-9 every topic as %s: %d topics, want %d (%+v)", who, n, want, or)
		}
	}

	// A transactional producer: WRITE on its transactional id (tx-*) and
	// on the topic; another id is TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
	for id, want := range map[string]error{"tx-a": nil, "zz-a": kerr.TransactionalIDAuthorizationFailed} {
		txc := c.kafkaClient(t, 0, "127.0.0.2", kgo.TransactionalID(id))
		err := txc.BeginTransaction()
		if err == nil {
			err = produce(ctx, txc, "orders")
		}
		if err == nil {
			err = txc.EndTransaction(ctx, kgo.TryCommit)
		}
		if want == nil && err != nil || want != nil && !errors.Is(err, want) {
			t.Errorf("alice's transaction as %s: %v, want %v", id, err, want)
		}
	}

	// ListGroups: everything with DESCRIBE on the cluster (bob), else the
	// describable groups (alice: app-*).
	if err := kadm.NewClient(clients["admin"]).CommitAllOffsets(ctx, "adm-g", kadm.OffsetsFromRecords(kgo.Record{Topic: "orders", Partition: 0, Offset: 0})); err != nil {
		t.Fatal(err)
	}
	for who, want := range map[string]func([]string) bool{
		"bob":   func(gs []string) bool { return slices.Equal(gs, []string{"adm-g", "app-1", "app-9"}) },
		"alice": func(gs []string) bool { return slices.Equal(gs, []string{"app-1", "app-9"}) },
		"anon":  func(gs []string) bool { return len(gs) == 0 },
	} {
		resp, err := clients[who].SeedBrokers()[0].Request(ctx, kmsg.NewPtrListGroupsRequest())
		if err != nil {
			t.Fatal(err)
		}
		var gs []string
		for _, g := range resp.(*kmsg.ListGroupsResponse).Groups {
			gs = append(gs, g.Group)
		}
		if !want(sorted(gs)) {
			t.Errorf("ListGroups as %s: %v", who, gs)
		}
	}
}

const errTxnAuthzCode = 53

// The last step: a gateway without --authorizer allows everything (it
// joins the cluster only now, so Kafka clients above never reached it).
func testAuthorizerOff(ctx context.Context, t *testing.T, c *aclCluster) {
	c.startGateway(t, false)
	off := len(c.gws) - 1
	conn, err := rpc.Dial(c.gws[off].GRPCAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := streamv1.NewStreamServiceClient(conn).Produce(ctx, &streamv1.ProduceRequest{Topic: "secret",
		Records: []*streamv1.ProduceRecord{{Value: []byte("g")}}}); err != nil {
		t.Errorf("anonymous Produce secret, authorizer off: %v", err)
	}
	cl := c.kafkaClient(t, off, "127.0.0.4")
	req := kmsg.NewPtrMetadataRequest()
	resp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(resp.(*kmsg.MetadataResponse).Topics); n != 4 {
		t.Errorf("anonymous Metadata, authorizer off: %d topics", n)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

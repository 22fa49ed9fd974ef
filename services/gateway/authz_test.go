package gateway

import (
	"context"
	"testing"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	"github.com/strata-io/strata/internal/acl"
	"github.com/strata-io/strata/internal/auth"
	"github.com/strata-io/strata/internal/errs"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpcmd "google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Every public RPC has a row: a new RPC cannot be served unchecked.
func TestGRPCRulesCoverEveryMethod(t *testing.T) {
	for _, sd := range []grpc.ServiceDesc{adminv1.AdminService_ServiceDesc, adminv1.AclService_ServiceDesc, adminv1.UserService_ServiceDesc,
		streamv1.StreamService_ServiceDesc, streamv1.GroupService_ServiceDesc} {
		for _, m := range sd.Methods {
			full := "/" + sd.ServiceName + "/" + m.MethodName
			if r, ok := grpcRules[full]; !ok || r.check == nil {
				t.Errorf("%s has no row in grpcRules", full)
			}
			if !guarded(full) {
				t.Errorf("%s is not guarded", full)
			}
		}
		for _, s := range sd.Streams {
			full := "/" + sd.ServiceName + "/" + s.StreamName
			if grpcStreamRules[full] == nil {
				t.Errorf("%s has no row in grpcStreamRules", full)
			}
		}
	}
	if guarded("/grpc.health.v1.Health/Check") {
		t.Error("health is guarded")
	}
}

// The interceptor refuses with PERMISSION_DENIED and the Kafka code in the
// detail, filters ListTopics, and believes a REST principal only with the
// gateway's secret.
func TestGRPCInterceptor(t *testing.T) {
	a := acl.New(acl.Config{Enabled: true}, acl.StaticSource{{ResourceType: acl.ResourceTopic, ResourceName: "ok",
		PatternType: acl.PatternLiteral, Principal: "User:alice", Host: "*", Operation: acl.OpAll, Permission: acl.PermAllow}})
	au := &authorizer{a: a, loopback: newLoopbackIdentity()}
	alice := auth.NewContext(context.Background(), auth.User("alice"))
	call := func(ctx context.Context, method string, req any) (any, error) {
		return au.unary(ctx, req, &grpc.UnaryServerInfo{FullMethod: method}, func(context.Context, any) (any, error) {
			return &adminv1.ListTopicsResponse{Topics: []*adminv1.Topic{{Name: "ok"}, {Name: "no"}}}, nil
		})
	}
	if _, err := call(alice, adminSvc+"DescribeTopic", &adminv1.DescribeTopicRequest{Name: "ok"}); err != nil {
		t.Fatal(err)
	}
	_, err := call(alice, adminSvc+"DeleteTopic", &adminv1.DeleteTopicRequest{Name: "no"})
	if status.Code(err) != codes.PermissionDenied || !errs.Is(err, errs.TopicAuthorizationFailed) {
		t.Fatalf("DeleteTopic no: %v", err)
	}
	if _, err := call(alice, adminSvc+"DescribeCluster", &adminv1.DescribeClusterRequest{}); !errs.Is(err, errs.ClusterAuthorizationFailed) {
		t.Fatalf("DescribeCluster: %v", err)
	}
	out, err := call(alice, adminSvc+"ListTopics", &adminv1.ListTopicsRequest{})
	if err != nil || len(out.(*adminv1.ListTopicsResponse).GetTopics()) != 1 {
		t.Fatalf("ListTopics = %v, %v", out, err)
	}
	// Streams: every message is checked; a Consume commit names its topics.
	z := au.view(alice)
	commit := &streamv1.ConsumeRequest{Message: &streamv1.ConsumeRequest_Commit{Commit: &streamv1.ConsumeCommit{
		Offsets: []*streamv1.ConsumeOffset{{Topic: "no", Offset: 1}}}}}
	if err := grpcStreamRules[streamSvc+"Consume"](z, commit, false); !errs.Is(err, errs.TopicAuthorizationFailed) {
		t.Fatalf("Consume commit to a refused topic: %v", err)
	}
	open := &streamv1.ProduceStreamRequest{Message: &streamv1.ProduceStreamRequest_Open{Open: &streamv1.ProduceStreamOpen{Topic: "ok"}}}
	if err := grpcStreamRules[streamSvc+"ProduceStream"](z, open, true); err != nil {
		t.Fatalf("ProduceStream open ok: %v", err)
	}
	if err := grpcStreamRules[streamSvc+"ProduceStream"](z, &streamv1.ProduceStreamRequest{}, true); err == nil {
		t.Fatal("a ProduceStream that does not open first was let through")
	}
	// The REST bridge: the secret makes the principal believed, a forged
	// header without it is ignored.
	rest := grpcmd.NewIncomingContext(context.Background(), func() grpcmd.MD {
		md, _ := grpcmd.FromOutgoingContext(au.loopback.outgoing(alice))
		return md
	}())
	if _, err := call(rest, adminSvc+"DescribeTopic", &adminv1.DescribeTopicRequest{Name: "ok"}); err != nil {
		t.Fatalf("REST principal not carried: %v", err)
	}
	md, _ := grpcmd.FromOutgoingContext(au.loopback.outgoing(alice))
	md = md.Copy()
	md.Append(principalHeader, "User:admin") // an HTTP client's Grpc-Metadata-Strata-Rest-Principal
	if _, err := call(grpcmd.NewIncomingContext(context.Background(), md), adminSvc+"DescribeTopic", &adminv1.DescribeTopicRequest{Name: "ok"}); !errs.Is(err, errs.TopicAuthorizationFailed) {
		t.Fatalf("a second REST principal was believed: %v", err)
	}
	forged := grpcmd.NewIncomingContext(context.Background(), grpcmd.Pairs(principalHeader, "User:alice", secretHeader, "guess"))
	if _, err := call(forged, adminSvc+"DescribeTopic", &adminv1.DescribeTopicRequest{Name: "ok"}); !errs.Is(err, errs.TopicAuthorizationFailed) {
		t.Fatalf("forged principal believed: %v", err)
	}
}

package controller

import (
	"context"

	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/rpc"
	"google.golang.org/grpc"
	grpcmd "google.golang.org/grpc/metadata"
)

// writeMethods change metadata, so only the active controller runs them.
var writeMethods = map[string]bool{
	"/strata.admin.v1.AdminService/CreateTopic":                   true,
	"/strata.admin.v1.AdminService/DeleteTopic":                   true,
	"/strata.admin.v1.AdminService/AddPartitions":                 true,
	"/strata.admin.v1.AdminService/AlterTopicConfigs":             true,
	"/strata.admin.v1.AdminService/AlterClientQuotas":             true,
	"/strata.admin.v1.UserService/AlterUserScramCredentials":      true,
	"/strata.admin.v1.AclService/CreateAcls":                      true,
	"/strata.admin.v1.AclService/DeleteAcls":                      true,
	"/strata.controller.v1.ControllerService/RegisterStorageNode": true,
	"/strata.controller.v1.ControllerService/RegisterGateway":     true,
	"/strata.controller.v1.ControllerService/AlterPartition":      true,
	"/strata.controller.v1.ControllerService/ControlledShutdown":  true,
	"/strata.controller.v1.ControllerService/ReportReplicaStates": true,
	"/strata.admin.v1.AdminService/ReassignPartition":             true,
	"/strata.admin.v1.AdminService/Rebalance":                     true,
	"/strata.admin.v1.AdminService/DrainNode":                     true,
	"/strata.admin.v1.AdminService/ElectPreferredLeaders":         true,
	// Group state lives in memory on the active controller, so every group
	// call (reads too) runs there.
	"/strata.controller.v1.GroupCoordinatorService/GroupCall":           true,
	"/strata.controller.v1.GroupCoordinatorService/AllocateProducerIds": true,
}

// forwardedHeader marks a forwarded call, so it is never forwarded twice.
const forwardedHeader = "strata-forwarded-by"

// forwarder sends write calls that reach a standby to the active controller.
type forwarder struct {
	elector *elector
	conns   rpc.Pool
}

func newForwarder(e *elector) *forwarder { return &forwarder{elector: e} }

func (f *forwarder) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if !writeMethods[info.FullMethod] {
		return handler(ctx, req)
	}
	if _, active := f.elector.fence(); active {
		return handler(ctx, req)
	}
	if md, ok := grpcmd.FromIncomingContext(ctx); ok && len(md.Get(forwardedHeader)) > 0 {
		return nil, errs.New(errs.NotController, "controller %s is not active (the active role moved); retry", f.elector.name)
	}
	leader, err := f.elector.active(ctx)
	if err != nil {
		return nil, err
	}
	if leader.GetName() == f.elector.name {
		return nil, errs.New(errs.NotController, "controller %s is between terms; retry", f.elector.name)
	}
	conn, err := f.conns.Get(leader.GetAddress())
	if err != nil {
		return nil, err
	}
	ctx = grpcmd.AppendToOutgoingContext(ctx, forwardedHeader, f.elector.name)
	return rpc.Forward(ctx, conn, info.FullMethod, req)
}

func (f *forwarder) close() { f.conns.Close() }

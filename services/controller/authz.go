package controller

import (
	"strings"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	"github.com/strata-io/strata/internal/certs"
	"github.com/strata-io/strata/internal/peerauth"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// authorize is the controller's peerauth policy (with TLS on): a storage
// node speaks only for its own node id, gateways make the admin, user
// (SCRAM credentials) and group calls, and other controllers (a standby forwarding a call it checked)
// may make any.
func authorize(id certs.Identity, method string, req any) error {
	if id.Role == certs.RoleController {
		return nil
	}
	switch r := req.(type) {
	case *controllerv1.RegisterStorageNodeRequest:
		return peerauth.Node(id, method, r.GetNodeId())
	case *controllerv1.AlterPartitionRequest:
		return peerauth.Node(id, method, r.GetNodeId())
	case *controllerv1.ControlledShutdownRequest:
		return peerauth.Node(id, method, r.GetNodeId())
	case *controllerv1.ReportReplicaStatesRequest:
		return peerauth.Node(id, method, r.GetNodeId())
	case *controllerv1.HeartbeatRequest:
		return member(id, method, r.GetKind(), r.GetId())
	case *controllerv1.UnregisterRequest:
		return member(id, method, r.GetKind(), r.GetId())
	case *controllerv1.RegisterGatewayRequest:
		return peerauth.Role(id, method, certs.RoleGateway)
	case *controllerv1.GroupCallRequest:
		if id.Role == certs.RoleStorage && verifyOnly(r) {
			return nil // a partition leader checks a transactional write (storage/txnverify.go)
		}
		return peerauth.Role(id, method, certs.RoleGateway)
	}
	switch {
	case method == controllerv1.ControllerService_WatchMetadata_FullMethodName:
		return peerauth.Role(id, method, certs.RoleStorage, certs.RoleGateway)
	case strings.HasPrefix(method, "/"+adminv1.AdminService_ServiceDesc.ServiceName+"/"),
		strings.HasPrefix(method, "/"+adminv1.UserService_ServiceDesc.ServiceName+"/"),
		strings.HasPrefix(method, "/"+controllerv1.UserCredentialService_ServiceDesc.ServiceName+"/"),
		strings.HasPrefix(method, "/"+adminv1.AclService_ServiceDesc.ServiceName+"/"),
		strings.HasPrefix(method, "/"+controllerv1.GroupCoordinatorService_ServiceDesc.ServiceName+"/"):
		return peerauth.Role(id, method, certs.RoleGateway)
	}
	return peerauth.Deny("%s may not call %s", id, method)
}

// member checks a heartbeat or unregister: a storage node only for its own
// id, a gateway for a gateway lease.
func member(id certs.Identity, method string, kind controllerv1.MemberKind, memberID int32) error {
	if kind == controllerv1.MemberKind_MEMBER_KIND_STORAGE_NODE {
		return peerauth.Node(id, method, memberID)
	}
	return peerauth.Role(id, method, certs.RoleGateway)
}

// verifyOnly reports whether a group call is an AddPartitionsToTxn that
// only verifies, the one group call a storage node makes.
func verifyOnly(r *controllerv1.GroupCallRequest) bool {
	if r.GetApiKey() != int32(kmsg.AddPartitionsToTxn) {
		return false
	}
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	if r.GetApiVersion() < 4 || r.GetApiVersion() > int32(req.MaxVersion()) {
		return false
	}
	req.Version = int16(r.GetApiVersion())
	if req.ReadFrom(r.GetBody()) != nil || len(req.Transactions) == 0 {
		return false
	}
	for _, tx := range req.Transactions {
		if !tx.VerifyOnly {
			return false
		}
	}
	return true
}

package controller

import (
	"testing"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	"github.com/strata-io/strata/internal/certs"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A storage node makes one group call, the verify-only AddPartitionsToTxn
// of a transactional write; any other is the gateways'.
func TestAuthorizeGroupCallFromStorage(t *testing.T) {
	call := func(verifyOnly bool) *controllerv1.GroupCallRequest {
		req := kmsg.NewPtrAddPartitionsToTxnRequest()
		req.Version = 4
		tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
		tx.TransactionalID, tx.VerifyOnly = "tx", verifyOnly
		req.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{tx}
		return &controllerv1.GroupCallRequest{ApiKey: int32(req.Key()), ApiVersion: int32(req.Version), Body: req.AppendTo(nil)}
	}
	storage := certs.Identity{Role: certs.RoleStorage, NodeID: 1}
	method := controllerv1.GroupCoordinatorService_GroupCall_FullMethodName
	if err := authorize(storage, method, call(true)); err != nil {
		t.Errorf("verify-only: %v", err)
	}
	if err := authorize(storage, method, call(false)); err == nil {
		t.Error("a storage node added partitions to a transaction")
	}
	bad := call(true)
	bad.ApiVersion = 1 << 20
	if err := authorize(storage, method, bad); err == nil {
		t.Error("an out-of-range version passed")
	}
	bad = call(true)
	bad.Body = bad.Body[:3]
	if err := authorize(storage, method, bad); err == nil {
		t.Error("a truncated body passed")
	}
	if err := authorize(certs.Identity{Role: certs.RoleGateway}, method, call(false)); err != nil {
		t.Errorf("gateway: %v", err)
	}
	if err := authorize(certs.Identity{Role: certs.RoleGateway}, controllerv1.ControllerService_AlterPartition_FullMethodName,
		&controllerv1.AlterPartitionRequest{NodeId: 1}); err == nil {
		t.Error("a gateway altered a partition")
	}
}

// SCRAM credentials are read and managed by gateways only: a storage
// node's certificate gets no user's keys.
func TestAuthorizeUserCalls(t *testing.T) {
	for _, method := range []string{controllerv1.UserCredentialService_GetScramCredential_FullMethodName,
		adminv1.UserService_AlterUserScramCredentials_FullMethodName} {
		if err := authorize(certs.Identity{Role: certs.RoleGateway}, method, nil); err != nil {
			t.Errorf("gateway %s: %v", method, err)
		}
		if err := authorize(certs.Identity{Role: certs.RoleStorage, NodeID: 1}, method, nil); err == nil {
			t.Errorf("a storage node called %s", method)
		}
	}
}

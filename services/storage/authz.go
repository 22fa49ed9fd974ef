package storage

import (
	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/certs"
	"github.com/strata-io/strata/internal/peerauth"
)

// authorize is the storage node's peerauth policy (with TLS on): replica
// fetches only from the storage node named by follower_id (the leader then
// checks it is an assigned follower at its current epoch), the data plane
// only from gateways, transaction markers only from controllers.
func authorize(id certs.Identity, method string, req any) error {
	switch method {
	case storagev1.StorageService_Replicate_FullMethodName:
		if r, ok := req.(*storagev1.ReplicateRequest); ok && (id.NodeID == 0 || id.NodeID != r.GetFollowerId()) {
			return peerauth.Deny("%s may not fetch replicas as follower %d", id, r.GetFollowerId())
		}
		return peerauth.Role(id, method, certs.RoleStorage)
	case storagev1.StorageService_OffsetForLeaderEpoch_FullMethodName:
		return peerauth.Role(id, method, certs.RoleStorage)
	case storagev1.StorageService_WriteTxnMarkers_FullMethodName:
		return peerauth.Role(id, method, certs.RoleController)
	case storagev1.StorageService_ListReplicas_FullMethodName:
		return peerauth.Role(id, method, certs.RoleGateway, certs.RoleController)
	case storagev1.StorageService_Produce_FullMethodName, storagev1.StorageService_Fetch_FullMethodName,
		storagev1.StorageService_ListOffsets_FullMethodName, storagev1.StorageService_DeleteRecords_FullMethodName,
		storagev1.StorageService_DescribeProducers_FullMethodName:
		return peerauth.Role(id, method, certs.RoleGateway)
	}
	return peerauth.Deny("%s may not call %s", id, method)
}

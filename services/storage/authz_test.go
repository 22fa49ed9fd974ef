package storage

import (
	"testing"

	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/certs"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestAuthorize(t *testing.T) {
	storage2 := certs.Identity{Role: certs.RoleStorage, NodeID: 2}
	anyStorage := certs.Identity{Role: certs.RoleStorage}
	gateway := certs.Identity{Role: certs.RoleGateway}
	controller := certs.Identity{Role: certs.RoleController}
	replicate := storagev1.StorageService_Replicate_FullMethodName
	for _, tc := range []struct {
		id     certs.Identity
		method string
		req    any
		ok     bool
	}{
		{storage2, replicate, nil, true},
		{storage2, replicate, &storagev1.ReplicateRequest{FollowerId: 2}, true},
		{storage2, replicate, &storagev1.ReplicateRequest{FollowerId: 3}, false},
		{anyStorage, replicate, &storagev1.ReplicateRequest{FollowerId: 2}, false},
		{gateway, replicate, nil, false},
		{controller, replicate, nil, false},
		{storage2, storagev1.StorageService_OffsetForLeaderEpoch_FullMethodName, nil, true},
		{gateway, storagev1.StorageService_Produce_FullMethodName, nil, true},
		{storage2, storagev1.StorageService_Produce_FullMethodName, nil, false},
		{controller, storagev1.StorageService_Fetch_FullMethodName, nil, false},
		{controller, storagev1.StorageService_WriteTxnMarkers_FullMethodName, nil, true},
		{gateway, storagev1.StorageService_WriteTxnMarkers_FullMethodName, nil, false},
		{gateway, storagev1.StorageService_ListReplicas_FullMethodName, nil, true},
		{gateway, "/strata.storage.v1.StorageService/Unknown", nil, false},
	} {
		err := authorize(tc.id, tc.method, tc.req)
		if tc.ok != (err == nil) || (err != nil && status.Code(err) != codes.PermissionDenied) {
			t.Errorf("%s calling %s with %v: %v", tc.id, tc.method, tc.req, err)
		}
	}
}

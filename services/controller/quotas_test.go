package controller

import (
	"context"
	"fmt"
	"testing"
	"time"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/metadata"
	"github.com/strata-io/strata/internal/quota"
	"github.com/strata-io/strata/internal/rpc"
	"github.com/strata-io/strata/internal/testutil"
	"github.com/strata-io/strata/services/controller/mdstore"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Client quotas are one record per entity in etcd, reach watchers through
// the metadata stream (upserts, and a delete when the last key goes), and
// nothing is written for validate_only or for an entity named twice.
func TestClientQuotasStoredAndWatched(t *testing.T) {
	c := startActiveController(t)
	conn, err := rpc.Dial(c.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	admin := adminv1.NewAdminServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cache := metadata.NewCache()
	stream, err := controllerv1.NewControllerServiceClient(conn).WatchMetadata(ctx, &controllerv1.WatchMetadataRequest{})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				return
			}
			cache.Apply(m)
		}
	}()

	app := []*adminv1.ClientQuotaEntityComponent{{EntityType: quota.TypeUser, IsDefault: true}, {EntityType: quota.TypeClientID, Name: "a/b c"}}
	path := quota.Entity{User: &quota.Name{Default: true}, ClientID: &quota.Name{Name: "a/b c"}}.Path()
	alter := func(validate bool, as ...*adminv1.ClientQuotaAlteration) *adminv1.AlterClientQuotasResponse {
		t.Helper()
		resp, err := admin.AlterClientQuotas(ctx, &adminv1.AlterClientQuotasRequest{Alterations: as, ValidateOnly: validate})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	set := &adminv1.ClientQuotaAlteration{Entity: app, Ops: []*adminv1.ClientQuotaOp{{Key: quota.ProducerByteRate, Value: 1024}}}
	if r := alter(true, set); r.GetResults()[0].GetError() != nil {
		t.Fatal(r.GetResults()[0].GetError())
	}
	if r := alter(false, set, set); r.GetResults()[0].GetError().GetCode() != errs.InvalidRequest || r.GetResults()[1].GetError().GetCode() != errs.InvalidRequest {
		t.Fatalf("an entity named twice: %v", r)
	}
	got, err := c.cli.Get(ctx, mdstore.QuotasPrefix, clientv3.WithPrefix())
	if err != nil || len(got.Kvs) != 0 {
		t.Fatalf("validate_only or refused alterations wrote %v (%v)", got.Kvs, err)
	}

	alter(false, set)
	testutil.WaitFor(t, 10*time.Second, func() error {
		if v := cache.ClientQuotas(path)[quota.ProducerByteRate]; v != 1024 {
			return fmt.Errorf("the watcher has %v for %s", cache.ClientQuotas(path), path)
		}
		return nil
	})
	alter(false, &adminv1.ClientQuotaAlteration{Entity: app, Ops: []*adminv1.ClientQuotaOp{{Key: quota.ProducerByteRate, Remove: true}}})
	testutil.WaitFor(t, 10*time.Second, func() error {
		if len(cache.AllClientQuotas()) != 0 {
			return fmt.Errorf("the watcher still has %v", cache.AllClientQuotas())
		}
		return nil
	})
	got, err = c.cli.Get(ctx, mdstore.QuotasPrefix, clientv3.WithPrefix())
	if err != nil || len(got.Kvs) != 0 {
		t.Fatalf("the record of an entity without quotas stays: %v (%v)", got.Kvs, err)
	}
}

package mdstore

import (
	"context"

	"github.com/strata-io/strata/internal/errs"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Etcd is the Store over the controller's etcd client. fence returns the
// comparison that holds only while this controller is active.
type Etcd struct {
	cli   *clientv3.Client
	fence func() (clientv3.Cmp, bool)
	name  string
}

// NewEtcd returns the etcd Store of the controller called name.
func NewEtcd(cli *clientv3.Client, name string, fence func() (clientv3.Cmp, bool)) *Etcd {
	return &Etcd{cli: cli, fence: fence, name: name}
}

// Get implements Store.
func (e *Etcd) Get(ctx context.Context, key string) (*KV, error) {
	resp, err := e.cli.Get(ctx, key)
	if err != nil {
		return nil, errs.New(errs.NotController, "reading %s: %v", key, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil
	}
	kv := resp.Kvs[0]
	return &KV{Key: string(kv.Key), Value: kv.Value, ModRevision: kv.ModRevision}, nil
}

// List implements Store.
func (e *Etcd) List(ctx context.Context, prefix string) ([]KV, error) {
	resp, err := e.cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, errs.New(errs.NotController, "reading %s: %v", prefix, err)
	}
	out := make([]KV, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out = append(out, KV{Key: string(kv.Key), Value: kv.Value, ModRevision: kv.ModRevision})
	}
	return out, nil
}

// Write implements Store: one etcd transaction guarded by the fence.
func (e *Etcd) Write(ctx context.Context, cmps []Cmp, ops ...Op) (bool, error) {
	fence, ok := e.fence()
	if !ok {
		return false, errs.New(errs.NotController, "controller %s is not active; retry", e.name)
	}
	ecmps := make([]clientv3.Cmp, 0, len(cmps))
	for _, c := range cmps {
		ecmps = append(ecmps, clientv3.Compare(clientv3.ModRevision(c.Key), "=", c.ModRevision))
	}
	eops := make([]clientv3.Op, 0, len(ops))
	for _, op := range ops {
		switch {
		case op.Delete && op.Prefix:
			eops = append(eops, clientv3.OpDelete(op.Key, clientv3.WithPrefix()))
		case op.Delete:
			eops = append(eops, clientv3.OpDelete(op.Key))
		default:
			eops = append(eops, clientv3.OpPut(op.Key, string(op.Value)))
		}
	}
	resp, err := e.cli.Txn(ctx).If(fence).Then(clientv3.OpTxn(ecmps, eops, nil)).Commit()
	if err != nil {
		return false, errs.New(errs.NotController, "metadata write failed: %v", err)
	}
	if !resp.Succeeded {
		return false, errs.New(errs.NotController, "controller %s was deposed; retry", e.name)
	}
	return resp.Responses[0].GetResponseTxn().GetSucceeded(), nil
}

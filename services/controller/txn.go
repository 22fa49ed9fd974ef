package controller

import (
	"context"

	"github.com/strata-io/strata/internal/errs"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// write applies ops in one etcd transaction if this controller is still the
// active one and every cmp holds. applied is false when a cmp failed; a
// failed fence is the NOT_CONTROLLER error.
func (c *Controller) write(ctx context.Context, cmps []clientv3.Cmp, ops ...clientv3.Op) (applied bool, err error) {
	fence, ok := c.elector.fence()
	if !ok {
		return false, errs.New(errs.NotController, "controller %s is not active; retry", c.cfg.Name)
	}
	resp, err := c.cli.Txn(ctx).
		If(fence).
		Then(clientv3.OpTxn(cmps, ops, nil)).
		Commit()
	if err != nil {
		return false, errs.New(errs.NotController, "metadata write failed: %v", err)
	}
	if !resp.Succeeded {
		return false, errs.New(errs.NotController, "controller %s was deposed; retry", c.cfg.Name)
	}
	return resp.Responses[0].GetResponseTxn().GetSucceeded(), nil
}

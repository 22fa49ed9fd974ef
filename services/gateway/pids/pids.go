// Package pids hands out idempotent producer ids for the gateway's Kafka
// listener and gRPC producers alike: blocks allocated by the controller
// (AllocateProducerIds), so no two producers anywhere share one.
package pids

import (
	"context"
	"sync"

	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	"github.com/strata-io/strata/services/gateway/router"
)

// block is how many ids one controller call allocates.
const block = 1000

// Allocator hands out ids from blocks allocated by the controller.
type Allocator struct {
	groups controllerv1.GroupCoordinatorServiceClient
	mu     sync.Mutex
	next   int64
	end    int64
}

// New returns an allocator over the controller's coordinator service.
func New(groups controllerv1.GroupCoordinatorServiceClient) *Allocator {
	return &Allocator{groups: groups}
}

// Next returns an id no other producer has, waiting out a controller
// election when it needs a new block.
func (a *Allocator) Next(ctx context.Context) (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.next >= a.end {
		var resp *controllerv1.AllocateProducerIdsResponse
		err := router.CallController(ctx, func(ctx context.Context) (err error) {
			resp, err = a.groups.AllocateProducerIds(ctx, &controllerv1.AllocateProducerIdsRequest{Count: block})
			return err
		})
		if err != nil {
			return 0, err
		}
		a.next, a.end = resp.GetFirstId(), resp.GetFirstId()+int64(resp.GetCount())
	}
	id := a.next
	a.next++
	return id, nil
}

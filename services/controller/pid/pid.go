// Package pid allocates Kafka producer ids: blocks of a counter in the
// metadata store (/strata/counters/producer-id holds the next free id), so
// no two producers anywhere ever share an id, across controller failovers.
package pid

import (
	"context"
	"strconv"

	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/services/controller/mdstore"
)

// MaxBlock is the largest block one call may take.
const MaxBlock = 100000

// CounterKey holds the next unallocated producer id.
const CounterKey = mdstore.Prefix + "counters/producer-id"

// casAttempts bounds the compare-and-swap loop on a contended counter.
const casAttempts = 10

// Allocator hands out producer id blocks.
type Allocator struct{ store mdstore.Store }

// New returns an allocator over store.
func New(store mdstore.Store) *Allocator { return &Allocator{store: store} }

// Allocate reserves n ids and returns the first: the block is
// [first, first+n).
func (a *Allocator) Allocate(ctx context.Context, n int32) (int64, error) {
	if n < 1 || n > MaxBlock {
		return -1, errs.New(errs.InvalidRequest, "count must be between 1 and %d, got %d", MaxBlock, n).Field("count", "out of range")
	}
	for range casAttempts {
		kv, err := a.store.Get(ctx, CounterKey)
		if err != nil {
			return -1, err
		}
		var last, rev int64
		if kv != nil {
			if last, err = strconv.ParseInt(string(kv.Value), 10, 64); err != nil || last < 0 {
				return -1, errs.New(errs.StorageError, "producer id counter %q is corrupt", kv.Value)
			}
			rev = kv.ModRevision
		}
		ok, err := a.store.Write(ctx, []mdstore.Cmp{{Key: CounterKey, ModRevision: rev}},
			mdstore.Put(CounterKey, []byte(strconv.FormatInt(last+int64(n), 10))))
		if err != nil {
			return -1, err
		}
		if ok {
			return last, nil
		}
	}
	return -1, errs.New(errs.ConcurrentUpdate, "the producer id counter kept changing; retry")
}

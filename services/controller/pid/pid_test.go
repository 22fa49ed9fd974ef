package pid

import (
	"context"
	"sync"
	"testing"

	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/services/controller/mdstore"
)

func TestBlocksNeverOverlap(t *testing.T) {
	a := New(mdstore.NewMemory())
	ctx := context.Background()
	var mu sync.Mutex
	seen := map[int64]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				first, err := a.Allocate(ctx, 3)
				if errs.Is(err, errs.ConcurrentUpdate) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for id := first; id < first+3; id++ {
					if seen[id] {
						t.Errorf("id %d handed out twice", id)
					}
					seen[id] = true
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func TestBadCount(t *testing.T) {
	a := New(mdstore.NewMemory())
	for _, n := range []int32{0, -1, MaxBlock + 1} {
		if _, err := a.Allocate(context.Background(), n); !errs.Is(err, errs.InvalidRequest) {
			t.Errorf("count %d: %v", n, err)
		}
	}
	s := mdstore.NewMemory()
	s.SetFenced(true)
	if _, err := New(s).Allocate(context.Background(), 1); !errs.Is(err, errs.NotController) {
		t.Errorf("fenced: %v", err)
	}
}

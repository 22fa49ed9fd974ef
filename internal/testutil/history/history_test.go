package history

import (
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	h := New()
	start := time.Now()
	h.Acked("a", 0, 0, 1)
	h.Acked("b", 0, 1, 2)
	h.Acked("c", 1, 0, 3)
	h.Read("a", 0)
	h.Read("a", 0) // read again after a rebalance: not a duplicate
	h.Read("b", 1)
	if h.Missing(time.Now()) != 1 {
		t.Fatalf("missing %d, want 1 (c)", h.Missing(time.Now()))
	}
	r := h.Check(start, time.Now())
	if r.Lost != 1 || r.Duplicated != 0 || r.OutOfOrder != 0 || r.OK() {
		t.Fatalf("%+v: want c lost", r)
	}
	h.Read("c", 0)
	h.Read("b", 7) // b written twice
	h.Acked("d", 0, 0, 4)
	h.Read("d", 0)
	mid := time.Now()
	h.Acked("e", 1, 1, 5) // acknowledged after mid: not yet due
	if h.Missing(mid) != 0 {
		t.Fatalf("missing %d by mid, want 0", h.Missing(mid))
	}
	r = h.Check(start, mid)
	if r.Lost != 0 || r.Duplicated != 1 || r.OutOfOrder != 1 {
		t.Fatalf("%+v: want b duplicated, d out of order", r)
	}
}

package kbin

import (
	"slices"
	"unsafe"
)

// Strata hardening (see third_party/kmsg/README.md): decoding a message
// allocates at most AllocMultiple times its input plus AllocSlack bytes of
// slice elements, and never more elements than the input can hold.
const (
	// AllocMultiple bounds the element bytes a decode may allocate per
	// input byte. Honest requests stay under 3 (a Produce partition entry
	// is ~40 bytes in memory for at least 69 on the wire; an int32 is 4
	// for 4).
	AllocMultiple = 8
	// AllocSlack lets tiny messages with a few empty arrays decode.
	AllocSlack = 64 << 10
	// tagCost is what one decoded tagged field is charged: what a map
	// entry (uint32 key, []byte value) costs in all as the map grows
	// (measured: ~160 bytes).
	tagCost = 160
	// preallocMax is how many elements an array gets ahead of decoding
	// them; the rest grow as they decode.
	preallocMax = 64
)

// NewReader returns a reader over src with an allocation budget sized to
// src.
func NewReader(src []byte) Reader {
	return Reader{Src: src, budget: AllocMultiple*len(src) + AllocSlack, budgeted: true}
}

// Prealloc returns a (empty) with room for the first few of l elements.
func Prealloc[T any](a []T, l int32) []T {
	return slices.Grow(a[:0], min(int(l), preallocMax))
}

// Extend appends one zero element to a, charging its size against b's
// budget; past the budget b goes bad and the decode fails.
func Extend[T any](b *Reader, a []T) []T {
	var zero T
	size := max(int(unsafe.Sizeof(zero)), 1)
	b.charge(size)
	if len(a) == cap(a) { // double, but at most to what the budget still allows
		grown := make([]T, len(a), len(a)+min(max(cap(a), 8), max(b.budget/size, 0)+1))
		copy(grown, a)
		a = grown
	}
	return append(a, zero)
}

// ChargeTag charges one decoded tagged field against the budget and
// reports whether the reader is still good: the tag loops' condition.
func (b *Reader) ChargeTag() bool {
	b.charge(tagCost)
	return !b.bad
}

// charge takes n bytes from the budget; past it the reader goes bad.
func (b *Reader) charge(n int) {
	if !b.budgeted { // a Reader literal: budget from what is left
		b.budget, b.budgeted = AllocMultiple*len(b.Src)+AllocSlack, true
	}
	b.budget -= n
	if b.budget < 0 {
		b.bad = true
		b.Src = nil
	}
}

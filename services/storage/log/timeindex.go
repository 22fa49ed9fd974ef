package log

import (
	"encoding/binary"
	"sort"
)

// timeIndex maps a timestamp T to an offset O, meaning every record in the
// batches up to and including the one holding O has a timestamp ≤ T.
// Entries are appended alongside offset index entries, only when the
// segment's maximum timestamp grew, so T increases strictly.
type timeIndex struct {
	*mmapIndex
	base int64
}

const timeEntrySize = 12

func (x *timeIndex) at(i int) (ts int64, offset int64) {
	e := x.entry(i)
	return int64(binary.BigEndian.Uint64(e)), x.base + int64(binary.BigEndian.Uint32(e[8:]))
}

// lastTS is the newest indexed timestamp, or -1.
func (x *timeIndex) lastTS() int64 {
	if n := x.len(); n > 0 {
		ts, _ := x.at(n - 1)
		return ts
	}
	return -1
}

// maybeAdd appends (ts, offset) if ts grows the index.
func (x *timeIndex) maybeAdd(ts int64, offset int64) error {
	if ts <= x.lastTS() || x.free() == 0 {
		return nil
	}
	return x.put(func(e []byte) {
		binary.BigEndian.PutUint64(e, uint64(ts))
		binary.BigEndian.PutUint32(e[8:], uint32(offset-x.base))
	})
}

// lookupBefore returns the offset of the last entry with timestamp < ts.
func (x *timeIndex) lookupBefore(ts int64) (offset int64, ok bool) {
	n := x.len()
	i := sort.Search(n, func(i int) bool { t, _ := x.at(i); return t >= ts })
	if i == 0 {
		return 0, false
	}
	_, o := x.at(i - 1)
	return o, true
}

// truncateToOffset drops entries at or past offset.
func (x *timeIndex) truncateToOffset(offset int64) {
	n := x.len()
	i := sort.Search(n, func(i int) bool { _, o := x.at(i); return o >= offset })
	x.truncate(i)
}

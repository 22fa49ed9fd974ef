package log

import (
	"encoding/binary"
	"sort"
)

// offsetIndex maps a batch's base offset (relative to the segment base,
// uint32) to its file position (uint32), one entry every
// index.interval.bytes. Entries increase in both fields.
type offsetIndex struct {
	*mmapIndex
	base int64
}

const offsetEntrySize = 8

func (x *offsetIndex) at(i int) (offset int64, pos int64) {
	e := x.entry(i)
	return x.base + int64(binary.BigEndian.Uint32(e)), int64(binary.BigEndian.Uint32(e[4:]))
}

// lookup returns the last entry whose offset is ≤ target, or the segment
// start when there is none.
func (x *offsetIndex) lookup(target int64) (offset int64, pos int64) {
	n := x.len()
	i := sort.Search(n, func(i int) bool { o, _ := x.at(i); return o > target })
	if i == 0 {
		return x.base, 0
	}
	return x.at(i - 1)
}

func (x *offsetIndex) add(offset int64, pos int64) error {
	return x.put(func(e []byte) {
		binary.BigEndian.PutUint32(e, uint32(offset-x.base))
		binary.BigEndian.PutUint32(e[4:], uint32(pos))
	})
}

// truncateToPos drops entries at or past file position pos.
func (x *offsetIndex) truncateToPos(pos int64) {
	n := x.len()
	i := sort.Search(n, func(i int) bool { _, p := x.at(i); return p >= pos })
	x.truncate(i)
}

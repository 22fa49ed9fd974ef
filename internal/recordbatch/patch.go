package recordbatch

import "encoding/binary"

// Both patched fields sit before the CRC'd range, so patching never
// invalidates the checksum. b must hold at least a full header.

// SetBaseOffset overwrites the batch's base offset in place.
func SetBaseOffset(b []byte, off int64) {
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(off))
}

// SetPartitionLeaderEpoch overwrites the batch's partition leader epoch in place.
func SetPartitionLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(epoch))
}

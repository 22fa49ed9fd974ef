package recordbatch

import "encoding/binary"

// The base offset and leader epoch sit before the CRC'd range, so patching
// them never invalidates the checksum. b must hold at least a full header.

// SetBaseOffset overwrites the batch's base offset in place.
func SetBaseOffset(b []byte, off int64) {
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(off))
}

// SetPartitionLeaderEpoch overwrites the batch's partition leader epoch in place.
func SetPartitionLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(epoch))
}

// SetLogAppendTime stamps the batch with the broker's clock as Kafka does
// for message.timestamp.type=LogAppendTime: it sets the timestamp-type
// attribute bit and the max timestamp (which consumers then report for
// every record) and recomputes the CRC, as both fields are covered by it.
// b must be exactly one whole batch.
func SetLogAppendTime(b []byte, ts int64) {
	attrs := binary.BigEndian.Uint16(b[offAttributes:])
	binary.BigEndian.PutUint16(b[offAttributes:], attrs|attrLogAppendTime)
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(ts))
	binary.BigEndian.PutUint32(b[offCRC:], Checksum(b))
}

// SetProducer stamps the batch with a producer id, epoch and base sequence
// (-1, -1, -1 for none) and recomputes the CRC, as all three are covered
// by it. b must be exactly one whole batch.
func SetProducer(b []byte, id int64, epoch int16, baseSequence int32) {
	binary.BigEndian.PutUint64(b[offProducerID:], uint64(id))
	binary.BigEndian.PutUint16(b[offProducerEpoch:], uint16(epoch))
	binary.BigEndian.PutUint32(b[offBaseSequence:], uint32(baseSequence))
	binary.BigEndian.PutUint32(b[offCRC:], Checksum(b))
}

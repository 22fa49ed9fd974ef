package recordbatch

import (
	"encoding/binary"
	"fmt"
)

// Control record types (the key of a control record: int16 version 0,
// int16 type), as Kafka's ControlRecordType.
const (
	ControlAbort  int16 = 0
	ControlCommit int16 = 1
)

// BuildControl encodes a transaction marker: a control, transactional
// batch of one record whose key is the marker type and whose value is
// Kafka's EndTransactionMarker (int16 version 0, int32 coordinator epoch).
func BuildControl(producerID int64, producerEpoch int16, commit bool, coordinatorEpoch int32, timestamp int64) ([]byte, error) {
	typ := ControlAbort
	if commit {
		typ = ControlCommit
	}
	key := binary.BigEndian.AppendUint16(make([]byte, 2, 4), uint16(typ))
	value := binary.BigEndian.AppendUint32(make([]byte, 2, 6), uint32(coordinatorEpoch))
	opts := BatchOptions{ProducerID: producerID, ProducerEpoch: producerEpoch, BaseSequence: -1, Transactional: true, Control: true}
	return Build(opts, []BuildRecord{{Key: key, Value: value, Timestamp: timestamp}})
}

// ControlType returns the marker type of a control batch (b is the whole
// batch; control batches are never compressed).
func ControlType(b []byte) (int16, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return 0, err
	}
	if !h.IsControl() || h.Codec() != 0 || h.RecordCount < 1 || len(b) < h.Size() {
		return 0, fmt.Errorf("not an uncompressed control batch: %w", ErrCorrupt)
	}
	it := NewRecordIter(b[HeaderSize:h.Size()], h.RecordCount)
	if !it.Next() {
		if it.Err() != nil {
			return 0, it.Err()
		}
		return 0, fmt.Errorf("control batch without a record: %w", ErrCorrupt)
	}
	key := it.Record().Key
	if len(key) < 4 {
		return 0, fmt.Errorf("control record key of %d bytes: %w", len(key), ErrCorrupt)
	}
	return int16(binary.BigEndian.Uint16(key[2:])), nil
}

// WithDeleteHorizon returns a copy of the control batch b carrying the
// cleaner's delete horizon (KIP-534), with its offsets, producer fields,
// record and record timestamp unchanged.
func WithDeleteHorizon(b []byte, horizon int64) ([]byte, error) {
	h, err := Validate(b)
	if err != nil {
		return nil, err
	}
	if !h.IsControl() || h.Codec() != 0 {
		return nil, fmt.Errorf("delete horizon: not an uncompressed control batch: %w", ErrInvalidRecord)
	}
	var recs []BuildRecord
	it := NewRecordIter(b[HeaderSize:h.Size()], h.RecordCount)
	for it.Next() {
		r := it.Record()
		recs = append(recs, BuildRecord{Key: r.Key, Value: r.Value, Headers: r.Headers,
			Timestamp: h.BaseTimestamp + r.TimestampDelta, OffsetDelta: r.OffsetDelta})
	}
	if it.Err() != nil {
		return nil, fmt.Errorf("delete horizon: %w", it.Err())
	}
	return Build(BatchOptions{
		BaseOffset: h.BaseOffset, PartitionLeaderEpoch: h.PartitionLeaderEpoch,
		ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch, BaseSequence: h.BaseSequence,
		Transactional: h.IsTransactional(), Control: true, LogAppendTime: h.LogAppendTime(),
		KeepOffsetDeltas: true, LastOffsetDelta: h.LastOffsetDelta,
		DeleteHorizon: horizon, HasDeleteHorizon: true,
	}, recs)
}

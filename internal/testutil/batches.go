package testutil

import (
	"github.com/strata-io/strata/api/kafkabatch"
	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
)

// BatchRecords is the records of record batches sent whole
// (ConsumeRecords.record_batches, FetchPartitionResult.record_batches) as
// a client decodes them, in the form the gateway sends decoded records.
func BatchRecords(batches [][]byte) ([]*streamv1.Record, error) {
	var recs []*streamv1.Record
	for _, b := range batches {
		if err := kafkabatch.Decode(b, func(k kafkabatch.Record) {
			rec := &streamv1.Record{Offset: k.Offset, TimestampMs: k.Timestamp, Key: k.Key, Value: k.Value,
				TimestampType: streamv1.TimestampType_TIMESTAMP_TYPE_CREATE_TIME}
			if k.LogAppendTime {
				rec.TimestampType = streamv1.TimestampType_TIMESTAMP_TYPE_LOG_APPEND_TIME
			}
			for _, h := range k.Headers {
				rec.Headers = append(rec.Headers, &streamv1.Header{Key: h.Key, Value: h.Value})
			}
			recs = append(recs, rec)
		}); err != nil {
			return nil, err
		}
	}
	return recs, nil
}

package strata

import (
	"context"
	"fmt"
	"time"

	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
)

// ListedOffset is what [Client.ListOffsets] found in one partition.
type ListedOffset struct {
	Topic     string
	Partition int32
	// Offset is the offset found; -1 for a time later than every record's.
	Offset int64
	// Timestamp is the found record's timestamp for an [AtTime] query, the
	// zero time otherwise.
	Timestamp time.Time
	// Err is the partition's failure (an unknown partition, no leader).
	Err error
}

// maxListPartitions is the server's cap on the partitions of one
// ListOffsets request.
const maxListPartitions = 1000

// ListOffsets looks o up in each of the topic's partitions: [AtStart] is
// the log start offset, [AtEnd] the high watermark, [AtTime] the first
// offset whose timestamp is at or after the time (-1 when none is), and
// [At] is answered as given without a call. Results keep the order of
// partitions; a partition's failure is in its Err.
func (c *Client) ListOffsets(ctx context.Context, topic string, partitions []int32, o Offset) ([]ListedOffset, error) {
	op := "list offsets of " + topic
	if topic == "" || len(partitions) == 0 || len(partitions) > maxListPartitions {
		return nil, fmt.Errorf("%s: %w: need a topic and 1 to %d partitions, got %d", op, ErrInvalidRequest, maxListPartitions, len(partitions))
	}
	out := make([]ListedOffset, len(partitions))
	req := &streamv1.ListOffsetsRequest{}
	for i, p := range partitions {
		out[i] = ListedOffset{Topic: topic, Partition: p, Offset: -1}
		lp := &streamv1.ListOffsetsPartition{Topic: topic, Partition: p}
		switch o.kind {
		case offsetExact:
			out[i].Offset = o.offset
			continue
		case offsetEnd:
			lp.Query = &streamv1.ListOffsetsPartition_Position{Position: streamv1.LogPosition_LOG_POSITION_LATEST}
		case offsetTime:
			lp.Query = &streamv1.ListOffsetsPartition_TimestampMs{TimestampMs: max(o.time.UnixMilli(), 0)}
		default:
			lp.Query = &streamv1.ListOffsetsPartition_Position{Position: streamv1.LogPosition_LOG_POSITION_EARLIEST}
		}
		req.Partitions = append(req.Partitions, lp)
	}
	if len(req.Partitions) == 0 {
		return out, nil
	}
	resp, err := retry(ctx, c, op, func(ctx context.Context) (*streamv1.ListOffsetsResponse, error) {
		return c.stream.ListOffsets(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	if len(resp.GetPartitions()) != len(out) {
		return nil, fmt.Errorf("%s: %d results for %d partitions", op, len(resp.GetPartitions()), len(out))
	}
	for i, r := range resp.GetPartitions() {
		if e := fromDetail(fmt.Sprintf("%s-%d", op, r.GetPartition()), r.GetError()); e != nil {
			out[i].Err = e
			continue
		}
		out[i].Offset = r.GetOffset()
		if o.kind == offsetTime && r.GetTimestampMs() >= 0 {
			out[i].Timestamp = time.UnixMilli(r.GetTimestampMs())
		}
	}
	return out, nil
}

// Exact returns the offset of an [At] offset, and false for the others
// (a [Reader]'s Position is exact once it has read the partition).
func (o Offset) Exact() (int64, bool) { return o.offset, o.kind == offsetExact }

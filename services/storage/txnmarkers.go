package storage

import (
	"context"
	"time"

	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/errs"
)

// maxMarkerWait bounds how long WriteTxnMarkers waits for replication.
const maxMarkerWait = 30 * time.Second

// WriteTxnMarkers is the transaction coordinator's step on this leader:
// BEGIN registers a producer's open transaction, COMMIT and ABORT append
// its marker and wait until the in-sync replicas have it (acks=all), so a
// coordinator that saw success never has to write it again.
func (h *handler) WriteTxnMarkers(ctx context.Context, req *storagev1.WriteTxnMarkersRequest) (*storagev1.WriteTxnMarkersResponse, error) {
	if err := tooManyPartitions(len(req.GetMarkers())); err != nil {
		return nil, err
	}
	timeout := min(time.Duration(req.GetTimeoutMs())*time.Millisecond, maxMarkerWait)
	if timeout <= 0 {
		timeout = defaultProduceTimeout
	}
	out := &storagev1.WriteTxnMarkersResponse{}
	type pending struct {
		res *storagev1.TxnMarkerResult
		ls  *leaderState
	}
	var waits []pending
	for _, m := range req.GetMarkers() {
		res := &storagev1.TxnMarkerResult{Topic: m.GetTopic(), Partition: m.GetPartition(), Offset: -1}
		out.Results = append(out.Results, res)
		p, ls, e := h.n.leaderFor(m.GetTopic(), m.GetPartition())
		if e != nil {
			res.Error = e.Detail
			continue
		}
		off, err := p.writeMarker(ls.epoch, m)
		if err != nil {
			res.Error = errs.FromKafka(err).Detail
			continue
		}
		res.Offset = off
		if off >= 0 {
			p.appends.fire()
			ls.advanceHighWatermark()
			waits = append(waits, pending{res, ls})
		}
	}
	for _, w := range waits {
		if e := w.ls.waitReplicated(ctx, w.res.Offset, timeout); e != nil {
			w.res.Error = e.Detail
		}
	}
	return out, nil
}

package controller

import (
	"context"
	"errors"

	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	"github.com/strata-io/strata/services/controller/mdstore"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// ctxStream is a stream with a narrower context.
type ctxStream struct {
	grpc.ServerStreamingServer[controllerv1.WatchMetadataResponse]
	ctx context.Context
}

func (s ctxStream) Context() context.Context { return s.ctx }

// errCompacted means the requested history is gone; a snapshot follows.
var errCompacted = errors.New("watch history compacted")

// WatchMetadata streams a snapshot and then one message per etcd revision.
// Any controller serves it from its own etcd member.
func (h *controllerHandler) WatchMetadata(req *controllerv1.WatchMetadataRequest, stream grpc.ServerStreamingServer[controllerv1.WatchMetadataResponse]) error {
	// A stopping controller ends its streams instead of waiting on them;
	// watchers reconnect to another controller.
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	defer context.AfterFunc(h.c.Context(), cancel)()
	stream = ctxStream{stream, ctx}
	from := req.GetFromRevision()
	for {
		if from <= 0 {
			rev, err := h.sendSnapshot(stream)
			if err != nil {
				return err
			}
			from = rev
		}
		err := h.streamDeltas(stream, from)
		if !errors.Is(err, errCompacted) {
			return err
		}
		from = 0
	}
}

func (h *controllerHandler) sendSnapshot(stream grpc.ServerStreamingServer[controllerv1.WatchMetadataResponse]) (int64, error) {
	resp, err := h.c.cli.Get(stream.Context(), mdstore.Prefix, clientv3.WithPrefix())
	if err != nil {
		return 0, readErr(err)
	}
	m := &controllerv1.WatchMetadataResponse{Revision: resp.Header.Revision, Snapshot: true}
	for _, kv := range resp.Kvs {
		rec, ok, err := mdstore.Decode(string(kv.Key), kv.Value)
		if err != nil {
			h.c.log.Error("metadata snapshot leaves out an undecodable record; storage nodes delete nothing until it is fixed", "key", string(kv.Key), "err", err)
			m.Incomplete = true
			continue
		}
		if ok {
			m.Upserts = append(m.Upserts, rec)
		}
	}
	return resp.Header.Revision, stream.Send(m)
}

// streamDeltas sends every change after revision from, grouped by revision.
func (h *controllerHandler) streamDeltas(stream grpc.ServerStreamingServer[controllerv1.WatchMetadataResponse], from int64) error {
	ctx := stream.Context()
	wch := h.c.cli.Watch(clientv3.WithRequireLeader(ctx), mdstore.Prefix, clientv3.WithPrefix(), clientv3.WithRev(from+1))
	for wr := range wch {
		if wr.CompactRevision != 0 {
			return errCompacted
		}
		if err := wr.Err(); err != nil {
			return readErr(err)
		}
		var m *controllerv1.WatchMetadataResponse
		flush := func() error {
			if m == nil || len(m.Upserts)+len(m.Deletes) == 0 {
				return nil
			}
			return stream.Send(m)
		}
		for _, ev := range wr.Events {
			if m == nil || m.Revision != ev.Kv.ModRevision {
				if err := flush(); err != nil {
					return err
				}
				m = &controllerv1.WatchMetadataResponse{Revision: ev.Kv.ModRevision}
			}
			key := string(ev.Kv.Key)
			if ev.Type == clientv3.EventTypeDelete {
				if k, ok := mdstore.DecodeKey(key); ok {
					m.Deletes = append(m.Deletes, k)
				}
				continue
			}
			rec, ok, err := mdstore.Decode(key, ev.Kv.Value)
			if err != nil {
				h.c.log.Warn("skipping undecodable metadata record", "err", err)
				continue
			}
			if ok {
				m.Upserts = append(m.Upserts, rec)
			}
		}
		if err := flush(); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return status.FromContextError(ctx.Err()).Err()
	}
	return readErr(errors.New("watch closed"))
}

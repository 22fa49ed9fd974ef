package controller

import (
	"context"

	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/services/controller/groups"
	"github.com/strata-io/strata/services/controller/pid"
	"github.com/strata-io/strata/services/controller/txn"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupHandler serves GroupCoordinatorService: it decodes each Kafka body
// and hands it to the coordinator that owns the API (groups/).
type groupHandler struct {
	controllerv1.UnimplementedGroupCoordinatorServiceServer
	gc   *groups.Coordinator
	tc   *txn.Coordinator
	pids *pid.Allocator
}

func (h *groupHandler) GroupCall(ctx context.Context, req *controllerv1.GroupCallRequest) (*controllerv1.GroupCallResponse, error) {
	key, version := int16(req.GetApiKey()), int16(req.GetApiVersion())
	kreq := kmsg.RequestForKey(key)
	if !(groups.APIs[key] || txn.APIs[key]) || kreq == nil || version < 0 || version > kreq.MaxVersion() {
		return nil, errs.New(errs.UnsupportedVersion, "API key %d version %d is not a group call", key, version)
	}
	kreq.SetVersion(version)
	if err := kreq.ReadFrom(req.GetBody()); err != nil {
		return nil, errs.New(errs.InvalidRequest, "malformed %s v%d body: %v", kmsg.NameForKey(key), version, err)
	}
	var resp kmsg.Response
	var err error
	if txn.APIs[key] {
		resp, err = h.tc.Handle(ctx, kreq)
	} else {
		resp, err = h.gc.Handle(ctx, kreq, req.GetClientId(), req.GetClientHost())
	}
	if err != nil {
		return nil, err
	}
	resp.SetVersion(version)
	return &controllerv1.GroupCallResponse{Body: resp.AppendTo(nil)}, nil
}

func (h *groupHandler) AllocateProducerIds(ctx context.Context, req *controllerv1.AllocateProducerIdsRequest) (*controllerv1.AllocateProducerIdsResponse, error) {
	first, err := h.pids.Allocate(ctx, req.GetCount())
	if err != nil {
		return nil, err
	}
	return &controllerv1.AllocateProducerIdsResponse{FirstId: first, Count: req.GetCount()}, nil
}

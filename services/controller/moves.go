package controller

import (
	"context"
	"maps"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/services/controller/mdstore"
)

// Rebalance and DrainNode plan moves (balance.go) and start one
// reassignment per moved partition. Each start is its own guarded write:
// a partition that changed meanwhile is skipped and logged, and the
// response lists only the moves that started, so running the command
// again picks up what was left.

// planInputs reads what the planner needs.
type planInputs struct {
	registered, alive map[int32]bool
	rack              map[int32]string
	live              []placementNode
}

func (c *Controller) planInputs(ctx context.Context) (*planInputs, error) {
	nodes, alive, err := c.storageNodes(ctx)
	if err != nil {
		return nil, err
	}
	in := &planInputs{registered: map[int32]bool{}, alive: alive, rack: map[int32]string{}}
	for _, n := range nodes {
		in.registered[n.GetNodeId()] = true
		in.rack[n.GetNodeId()] = n.GetRack()
		if alive[n.GetNodeId()] {
			in.live = append(in.live, placementNode{id: n.GetNodeId(), rack: n.GetRack()})
		}
	}
	return in, nil
}

// startMoves starts the planned moves, or only lists them on a dry run.
func (c *Controller) startMoves(ctx context.Context, in *planInputs, planned []plannedMove, dryRun bool) ([]*adminv1.PartitionMove, error) {
	out := []*adminv1.PartitionMove{}
	for _, m := range planned {
		if dryRun {
			out = append(out, &adminv1.PartitionMove{Topic: m.topic, Partition: m.partition, FromReplicas: m.from, ToReplicas: m.to})
			continue
		}
		// A replica the plan keeps may sit on a dead node (it had nowhere
		// else to go); only the nodes it adds must be alive.
		ok := maps.Clone(in.alive)
		for _, r := range m.from {
			ok[r] = true
		}
		move, err := c.reassign(ctx, m.topic, m.partition, m.to, in.registered, ok)
		switch {
		case errs.Is(err, errs.NotController):
			return out, err // deposed: nothing more can start here
		case err != nil:
			c.log.Warn("planned move not started", "move", m.String(), "err", err)
			continue
		}
		out = append(out, move)
	}
	return out, nil
}

func (h *adminHandler) Rebalance(ctx context.Context, req *adminv1.RebalanceRequest) (*adminv1.RebalanceResponse, error) {
	in, err := h.c.planInputs(ctx)
	if err != nil {
		return nil, err
	}
	parts, err := h.c.partitions(ctx, mdstore.PartitionsPrefix)
	if err != nil {
		return nil, err
	}
	moves, err := h.c.startMoves(ctx, in, planRebalance(parts, in.live, in.rack), req.GetDryRun())
	if err != nil {
		return nil, err
	}
	h.c.log.Info("rebalance", "moves", len(moves), "dry_run", req.GetDryRun())
	return &adminv1.RebalanceResponse{Moves: moves}, nil
}

func (h *adminHandler) DrainNode(ctx context.Context, req *adminv1.DrainNodeRequest) (*adminv1.DrainNodeResponse, error) {
	in, err := h.c.planInputs(ctx)
	if err != nil {
		return nil, err
	}
	if !in.registered[req.GetNodeId()] {
		return nil, errs.New(errs.UnknownMember, "storage node %d is not registered", req.GetNodeId())
	}
	parts, err := h.c.partitions(ctx, mdstore.PartitionsPrefix)
	if err != nil {
		return nil, err
	}
	planned, err := planDrain(parts, in.live, in.rack, req.GetNodeId())
	if err != nil {
		return nil, err
	}
	moves, err := h.c.startMoves(ctx, in, planned, req.GetDryRun())
	if err != nil {
		return nil, err
	}
	h.c.log.Info("drain", "node", req.GetNodeId(), "moves", len(moves), "dry_run", req.GetDryRun())
	return &adminv1.DrainNodeResponse{Moves: moves}, nil
}

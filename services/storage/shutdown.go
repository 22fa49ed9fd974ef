package storage

import (
	"context"
	"time"

	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	"github.com/strata-io/strata/internal/errs"
)

// Controlled shutdown: before a node stops (SIGTERM), it asks the controller
// to move leadership of its partitions to other in-sync replicas and to
// drop it from the ISRs, so producers get one NOT_LEADER and retry on the
// new leader instead of timing out until the lease expires.
const (
	// shutdownGiveUpAfter bounds how long a stop waits for leadership to move.
	shutdownGiveUpAfter = 10 * time.Second
	// shutdownRetryEvery is the pause between calls while leaderships remain.
	shutdownRetryEvery = 200 * time.Millisecond
	// shutdownCallTimeout keeps one call short: a slow controller must not
	// hold up the stop.
	shutdownCallTimeout = time.Second
)

// controlledShutdown calls ControlledShutdown until the node leads nothing
// or time runs out. An unreachable controller ends it at once: nobody can
// move leadership then, and `strata dev` stops the controller first.
func (n *Node) controlledShutdown() {
	if n.Member == nil || n.Conn == nil || !n.Member.Alive() {
		return
	}
	reg := n.Member.Registration()
	client := controllerv1.NewControllerServiceClient(n.Conn)
	start := time.Now()
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownCallTimeout)
		resp, err := client.ControlledShutdown(ctx, &controllerv1.ControlledShutdownRequest{NodeId: reg.ID, NodeEpoch: reg.Epoch})
		cancel()
		switch {
		case err == nil && resp.GetRemainingLeaderships() == 0:
			n.Log.Info("controlled shutdown: leadership moved away", "attempts", attempt, "took", time.Since(start).Round(time.Millisecond))
			return
		case err != nil && errs.From(err) == nil:
			// Unreachable (expected under `strata dev`, which stops the
			// controller first): nobody can move leadership.
			n.Log.Info("controlled shutdown skipped: no controller reachable", "err", err)
			return
		case err != nil && !errs.Is(err, errs.NotController):
			n.Log.Warn("controlled shutdown refused", "err", err)
			return
		}
		if time.Since(start) >= shutdownGiveUpAfter {
			n.Log.Warn("controlled shutdown gave up; the remaining partitions fail over when the lease ends",
				"remaining_leaderships", resp.GetRemainingLeaderships(), "err", err)
			return
		}
		time.Sleep(shutdownRetryEvery)
	}
}

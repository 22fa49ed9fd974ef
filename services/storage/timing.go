package storage

import (
	"context"
	"log/slog"
	"time"
)

// Per-request timing of the replication path, logged at debug level only:
// wall-clock nanoseconds of each step, so one acks=all produce can be
// followed from the leader's append through each follower's fetch, append
// and report back to the high-watermark move (docs/performance.md, "Where
// the time goes"). At info and above it costs one level check per call.

// timing reports whether debug timing is on.
func (n *Node) timing() bool { return n.Log.Enabled(context.Background(), slog.LevelDebug) }

// stamp is a timestamp for the timing logs: zero when timing is off.
func stamp(on bool) int64 {
	if !on {
		return 0
	}
	return time.Now().UnixNano()
}

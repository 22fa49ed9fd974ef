package metadata

import (
	"context"
	"errors"
	"log/slog"
	"time"

	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
)

// Follow keeps cache current from the controller's watch stream until ctx
// ends. After a broken stream it reconnects and resumes from the cache's
// revision (the controller sends a fresh snapshot if that history is gone).
func Follow(ctx context.Context, client controllerv1.ControllerServiceClient, cache *Cache, log *slog.Logger) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := followOnce(ctx, client, cache)
		if ctx.Err() != nil {
			return
		}
		log.Debug("metadata watch broke; reconnecting", "err", err, "after", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func followOnce(ctx context.Context, client controllerv1.ControllerServiceClient, cache *Cache) error {
	stream, err := client.WatchMetadata(ctx, &controllerv1.WatchMetadataRequest{FromRevision: cache.Revision()})
	if err != nil {
		return err
	}
	for {
		m, err := stream.Recv()
		if err != nil {
			return err
		}
		if m.GetRevision() == 0 {
			return errors.New("watch message without revision")
		}
		cache.Apply(m)
	}
}

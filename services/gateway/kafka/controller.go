package kafka

import (
	"context"

	"github.com/strata-io/strata/services/gateway/router"
)

// retryController runs a call to the controller, waiting out an election
// (router.CallController).
func retryController(ctx context.Context, call func(ctx context.Context) error) error {
	return router.CallController(ctx, call)
}

package kafka

import (
	"context"
	"encoding/base64"
	"encoding/hex"

	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/services/gateway/router"
)

// adminCall runs a call to the controller's admin API, waiting out an
// election, and returns the Kafka error code and message of its failure.
func adminCall(ctx context.Context, call func(ctx context.Context) error) (int16, *string) {
	err := router.CallController(ctx, call)
	if err == nil {
		return 0, nil
	}
	msg := errs.Message(err)
	return errs.KafkaCode(err), &msg
}

// parseTopicID reads a topic id as the admin API prints it (hex or base64
// of 16 bytes).
func parseTopicID(s string) ([16]byte, bool) {
	var id [16]byte
	if b, err := hex.DecodeString(s); err == nil && len(b) == 16 {
		copy(id[:], b)
		return id, true
	}
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil && len(b) == 16 {
		copy(id[:], b)
		return id, true
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) == 16 {
		copy(id[:], b)
		return id, true
	}
	return id, false
}

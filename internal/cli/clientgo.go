package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	strata "github.com/strata-io/strata/clients/go"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// withClient runs run with a clients/go client on --server (the CLI
// dogfoods the Go client), everything bounded by --timeout.
func (f *clientFlags) withClient(run func(ctx context.Context, c *strata.Client) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	err := f.withClientCtx(ctx, run)
	if err != nil && ctx.Err() != nil && !errors.Is(err, errConnect) {
		return fmt.Errorf("no answer from %s within %s: %w", f.server, f.timeout, err)
	}
	return err
}

var errConnect = errors.New("cannot connect")

// withClientCtx is withClient under the caller's context: --timeout bounds
// only the connect (perf and watch run longer).
func (f *clientFlags) withClientCtx(ctx context.Context, run func(ctx context.Context, c *strata.Client) error) error {
	if f.output != "table" && f.output != "json" {
		return fmt.Errorf("--output must be table or json, not %q", f.output)
	}
	cctx, cancel := context.WithTimeout(ctx, f.timeout)
	c, err := f.connect(cctx)
	cancel()
	if err != nil {
		return err
	}
	defer c.Close()
	return run(ctx, c)
}

// connect opens a client on --server, with a one-line error and a hint.
// A refused connection fails at once; a gateway that answers but is not
// ready yet is waited for within ctx and --timeout.
func (f *clientFlags) connect(ctx context.Context) (*strata.Client, error) {
	opts := []strata.Opt{strata.WithoutReadyWait(), strata.WithLogger(slog.New(slog.DiscardHandler))}
	creds, err := f.tls.creds()
	if err != nil {
		return nil, err
	}
	if creds != nil {
		opts = append(opts, strata.WithTransportCredentials(creds))
	}
	if user, pass, ok := f.credentials(); ok {
		// Over TLS when --tls-* says so, else plaintext: see basicAuth.
		opts = append(opts, strata.WithBasicAuthInsecure(user, pass))
	}
	c, err := strata.NewClient(ctx, f.server, opts...)
	if err != nil {
		return nil, connectError(f.server, err)
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	h := healthpb.NewHealthClient(c.Conn())
	for {
		resp, err := h.Check(ctx, &healthpb.HealthCheckRequest{})
		switch {
		case err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING:
			return c, nil
		case err == nil: // up, not ready yet: wait
		case status.Code(err) == codes.Unimplemented:
			return c, nil // no health service there: the calls will tell
		case status.Code(err) == codes.Unavailable || ctx.Err() != nil:
			c.Close()
			return nil, connectError(f.server, err)
		default: // refused (TLS, authentication): waiting will not help
			c.Close()
			return nil, fmt.Errorf("%w to %s: %s", errConnect, f.server, oneLine(err))
		}
		select {
		case <-ctx.Done():
			c.Close()
			return nil, fmt.Errorf("%w: the gateway at %s is not ready (%s) within %s", errConnect, f.server, resp.GetStatus(), f.timeout)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// connectError is the one line for a gateway that cannot be reached.
func connectError(server string, err error) error {
	return fmt.Errorf("%w to %s (%s) — is `strata dev` running? (set --server or STRATA_SERVER)", errConnect, server, dialCause(status.Convert(err).Message()))
}

// dialCause is the last link of a dial error's chain: "connection refused",
// not the whole "connection error: desc = transport: ... dial tcp ...".
func dialCause(msg string) string {
	msg = strings.Trim(msg, `" `)
	if i := strings.LastIndex(msg, ": "); i >= 0 && strings.Contains(msg, "dial") {
		return msg[i+2:]
	}
	return msg
}

package cli

import (
	"context"
	"errors"
	"fmt"

	strata "github.com/strata-io/strata/clients/go"
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

// connect opens a client on --server (with the TLS flags, like the admin
// commands), with a one-line error and a hint.
func (f *clientFlags) connect(ctx context.Context) (*strata.Client, error) {
	var opts []strata.Opt
	creds, err := f.tls.creds()
	if err != nil {
		return nil, err
	}
	if creds != nil {
		opts = append(opts, strata.WithTransportCredentials(creds))
	}
	c, err := strata.NewClient(ctx, f.server, opts...)
	if err != nil {
		if inner := errors.Unwrap(err); inner != nil {
			err = inner
		}
		return nil, fmt.Errorf("%w to %s within %s (is the gateway running? set --server or STRATA_SERVER): %v", errConnect, f.server, f.timeout, err)
	}
	return c, nil
}

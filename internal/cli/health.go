package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/strata-io/strata/internal/rpc"
)

func newHealthCmd() *cobra.Command {
	var addr string
	var timeout time.Duration
	var tf tlsFlags
	cmd := &cobra.Command{
		Use:   "health --addr HOST:PORT",
		Short: "Exit 0 only if the role at HOST:PORT (its gRPC address) is ready; for container healthchecks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			creds, err := tf.creds()
			if err != nil {
				return err
			}
			if err := rpc.CheckHealthCreds(ctx, creds, addr); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s is ready\n", addr)
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "localhost:9191", "gRPC address of the role to check")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "how long to wait for an answer")
	tf.register(cmd.Flags())
	return cmd
}

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/rpc"
	"google.golang.org/grpc"
)

// clientFlags are shared by the commands that call a gateway.
type clientFlags struct {
	out     io.Writer
	server  string
	output  string
	timeout time.Duration
}

func (f *clientFlags) register(cmd *cobra.Command) {
	server := os.Getenv("STRATA_SERVER")
	if server == "" {
		server = "localhost:9191"
	}
	cmd.PersistentFlags().StringVar(&f.server, "server", server, "gateway gRPC address (env STRATA_SERVER)")
	cmd.PersistentFlags().StringVarP(&f.output, "output", "o", "table", "output format: table or json")
	cmd.PersistentFlags().DurationVar(&f.timeout, "timeout", 30*time.Second, "how long to wait for the server")
	cmd.PersistentPreRun = func(cmd *cobra.Command, _ []string) { f.out = cmd.OutOrStdout() }
}

// admin runs f with an AdminService client and turns its error into one
// readable line.
func (f *clientFlags) admin(run func(ctx context.Context, c adminv1.AdminServiceClient) error) error {
	return f.call(func(ctx context.Context, conn grpc.ClientConnInterface) error {
		return run(ctx, adminv1.NewAdminServiceClient(conn))
	})
}

// call runs run with a connection to the gateway, as admin does.
func (f *clientFlags) call(run func(ctx context.Context, conn grpc.ClientConnInterface) error) error {
	if f.output != "table" && f.output != "json" {
		return fmt.Errorf("--output must be table or json, not %q", f.output)
	}
	conn, err := rpc.Dial(f.server)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	if err := run(ctx, conn); err != nil {
		if errs.From(err) == nil && ctx.Err() != nil {
			return fmt.Errorf("no answer from %s within %s: %s", f.server, f.timeout, errs.Message(err))
		}
		return fmt.Errorf("%s", errs.Message(err))
	}
	return nil
}

func (f *clientFlags) json() bool { return f.output == "json" }

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

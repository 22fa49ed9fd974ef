// Package cli is the strata command line: role subcommands that run
// services, and admin commands that talk to a gateway's public API.
package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// Main runs the command line and returns the process exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	root := newRoot()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.Execute(); err != nil {
		fmt.Fprintf(stderr, "strata: %s\n", strings.TrimSpace(err.Error()))
		return 1
	}
	return 0
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "strata",
		Short:         "Strata: a Kafka-compatible event log",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newControllerCmd(), newStorageCmd(), newGatewayCmd(), newDevCmd(),
		newHealthCmd(), newTopicCmd(), newClusterCmd(), newQuotaCmd(),
		newGroupCmd(), newPerfCmd(), newACLCmd(),
	)
	return root
}

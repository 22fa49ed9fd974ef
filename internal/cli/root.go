// Package cli is the strata admin command line: commands that talk to a
// gateway's public API. The role subcommands that run services live in
// internal/launch; cmd/strata adds them.
package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// Main runs the command line and returns the process exit code. extra are
// more subcommands (cmd/strata adds the role commands of internal/launch).
func Main(args []string, stdout, stderr io.Writer, extra ...*cobra.Command) int {
	root := newRoot()
	root.AddCommand(extra...)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.Execute(); err != nil {
		prefix := "strata:"
		if colour(stderr, args) {
			prefix = "\x1b[31mstrata:\x1b[0m"
		}
		fmt.Fprintf(stderr, "%s %s\n", prefix, strings.TrimSpace(err.Error()))
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
		newHealthCmd(), newCertsCmd(), newTopicCmd(), newClusterCmd(), newQuotaCmd(), newUserCmd(),
		newGroupCmd(), newPerfCmd(), newACLCmd(), newProduceCmd(), newConsumeCmd(), newVersionCmd(),
	)
	return root
}

package cli

import "github.com/spf13/cobra"

func newPerfCmd() *cobra.Command {
	return &cobra.Command{Use: "perf", Short: "Measure produce and consume throughput and latency"}
}

package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Version is the release, set at build time:
// go build -ldflags "-X github.com/strata-io/strata/internal/cli.Version=v1.2.3" ./cmd/strata
var Version = "dev"

// Commit may be set at build time too (-X ...cli.Commit=abc123, as make
// build does); otherwise it comes from the Go toolchain's VCS stamp.
var Commit = ""

// buildCommit returns the commit the binary was built from (with +dirty for
// uncommitted changes), from the Go toolchain's VCS stamp.
func buildCommit() string {
	if Commit != "" {
		return Commit
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	commit, dirty := "unknown", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			commit = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty {
		commit += "+dirty"
	}
	return commit
}

func newVersionCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "version",
		Short:   "Print the version, commit and Go version of this binary",
		Example: "  strata version\n  strata version -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := map[string]string{"version": Version, "commit": buildCommit(), "go": runtime.Version()}
			switch output {
			case "json":
				return printJSON(cmd.OutOrStdout(), v)
			case "table", "text":
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "strata %s (commit %s, %s %s/%s)\n", Version, v["commit"], v["go"], runtime.GOOS, runtime.GOARCH)
				return err
			}
			return fmt.Errorf("--output must be text or json, not %q", output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

package cli

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// completeTopics completes topic names from the gateway (`strata
// completion` scripts call it); max is how many topic arguments the
// command takes (0: any). Nothing is offered when the gateway does not
// answer within 2 s.
func completeTopics(f *clientFlags, max int) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if max > 0 && len(args) >= max {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		f.timeout = min(f.timeout, 2*time.Second)
		c, err := f.connect(ctx)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer c.Close()
		topics, err := c.Admin().ListTopics(ctx)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, t := range topics {
			if strings.HasPrefix(t.Name, prefix) && !slices.Contains(args, t.Name) {
				out = append(out, t.Name)
			}
		}
		slices.Sort(out)
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// Package launch assembles and runs the roles: `strata controller`,
// `strata storage`, `strata gateway` and `strata dev`. It is the only
// package besides the services themselves that imports them, so the admin
// CLI (internal/cli) stays free of server code; cmd/strata wires the two.
package launch

import "github.com/spf13/cobra"

// Commands returns the role-running subcommands.
func Commands() []*cobra.Command {
	return []*cobra.Command{newControllerCmd(), newStorageCmd(), newGatewayCmd(), newDevCmd()}
}

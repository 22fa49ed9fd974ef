// Command strata runs any Strata role (controller, storage, gateway, or all
// of them with dev) and carries the admin CLI.
package main

import (
	"os"

	"github.com/strata-io/strata/internal/cli"
	"github.com/strata-io/strata/internal/launch"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr, launch.Commands()...))
}

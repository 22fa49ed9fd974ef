package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/strata-io/strata/internal/certs"
)

func newCertsCmd() *cobra.Command {
	var dir string
	var hosts []string
	var nodes int
	var validity time.Duration
	var ifMissing bool
	cmd := &cobra.Command{
		Use:   "certs --dir DIR [--hosts h1,h2] [--storage-nodes N]",
		Short: "Create a development CA and a certificate per role (controller, storage-1..N, gateway, client)",
		Long: "Create a development CA and certificates for every role under --dir: ca, controller,\n" +
			"storage-1..N (each naming its node id), gateway and client (a user certificate for the CLI\n" +
			"and Kafka or gRPC clients), each as NAME.crt and NAME.key. Role certificates serve --hosts\n" +
			"plus localhost, 127.0.0.1 and ::1. For development and tests: keep ca.key private, and use\n" +
			"your own PKI in production (see docs/security.md).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return fmt.Errorf("--dir is required")
			}
			for _, h := range hosts {
				if h == "" || strings.ContainsAny(h, " /,") {
					return fmt.Errorf("--hosts: %q is not a host name or IP address", h)
				}
			}
			if validity < time.Hour {
				return fmt.Errorf("--validity: %s is shorter than 1h", validity)
			}
			if _, err := os.Stat(filepath.Join(dir, "ca.key")); err == nil && ifMissing {
				fmt.Fprintf(cmd.OutOrStdout(), "%s already holds a CA; kept it\n", filepath.Clean(dir))
				return nil
			}
			if err := certs.WriteCluster(dir, hosts, nodes, validity); err != nil {
				return err
			}
			var files []string
			for _, n := range certs.ClusterFiles(nodes) {
				files = append(files, n+".crt")
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Wrote %s (and the matching .key files) to %s\n", strings.Join(files, " "), filepath.Clean(dir))
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&dir, "dir", "", "directory to write the certificates to (created if missing)")
	fs.StringSliceVar(&hosts, "hosts", nil, "host names and IP addresses the role certificates serve, comma-separated (besides localhost)")
	fs.IntVar(&nodes, "storage-nodes", 3, "storage node certificates to create (storage-1..N)")
	fs.DurationVar(&validity, "validity", 365*24*time.Hour, "how long the certificates are valid")
	fs.BoolVar(&ifMissing, "if-missing", false, "do nothing (and succeed) when --dir already holds a CA, instead of failing")
	return cmd
}

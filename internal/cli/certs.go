package cli

import (
	"fmt"
	"net"
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
	var ifMissing, shared bool
	cmd := &cobra.Command{
		Use:   "certs --dir DIR [--hosts h1,h2,10.0.0.0/24] [--storage-nodes N] [--storage-shared]",
		Short: "Create a development CA and a certificate per role (controller, storage-1..N, gateway, client)",
		Long: "Create a development CA and certificates for every role under --dir: ca, controller,\n" +
			"storage-1..N (each naming its node id), gateway and client (a user certificate for the CLI\n" +
			"and Kafka or gRPC clients), each as NAME.crt and NAME.key. Role certificates serve --hosts\n" +
			"plus localhost, 127.0.0.1 and ::1 (an IPv4 CIDR in --hosts stands for each of its addresses,\n" +
			"at most 1024). --storage-shared adds storage.crt, valid for any storage node. For development\n" +
			"and tests: keep ca.key private, and use your own PKI in production (see docs/security.md).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return fmt.Errorf("--dir is required")
			}
			for _, h := range hosts {
				if h == "" || strings.ContainsAny(h, " ,") || (strings.Contains(h, "/") && net.ParseIP(strings.Split(h, "/")[0]) == nil) {
					return fmt.Errorf("--hosts: %q is not a host name, IP address or IPv4 CIDR", h)
				}
			}
			hosts, err := certs.ExpandHosts(hosts)
			if err != nil {
				return fmt.Errorf("--hosts: %w", err)
			}
			if validity < time.Hour {
				return fmt.Errorf("--validity: %s is shorter than 1h", validity)
			}
			var files []string
			if _, err := os.Stat(filepath.Join(dir, "ca.key")); err == nil && ifMissing {
				fmt.Fprintf(cmd.OutOrStdout(), "%s already holds a CA; kept it\n", filepath.Clean(dir))
			} else {
				if err := certs.WriteCluster(dir, hosts, nodes, validity); err != nil {
					return err
				}
				for _, n := range certs.ClusterFiles(nodes) {
					files = append(files, n+".crt")
				}
			}
			// --if-missing adds a shared storage certificate to an older
			// directory from its CA.
			sharedFile := filepath.Join(dir, certs.SharedStorageFile+".crt")
			if _, err := os.Stat(sharedFile); shared && (err != nil || !ifMissing) {
				if err := certs.WriteSharedStorage(dir, hosts, validity); err != nil {
					return err
				}
				files = append(files, certs.SharedStorageFile+".crt")
			}
			if len(files) == 0 {
				return nil
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
	fs.BoolVar(&shared, "storage-shared", false, "also create storage.crt, one certificate for any storage node (no node id: nodes get ids at first registration; see docs/security.md)")
	fs.BoolVar(&ifMissing, "if-missing", false, "do nothing (and succeed) when --dir already holds a CA, instead of failing")
	return cmd
}

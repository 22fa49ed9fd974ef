package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/rpc"
	"github.com/strata-io/strata/internal/tlsconf"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// clientFlags are shared by the commands that call a gateway.
type clientFlags struct {
	out     io.Writer
	server  string
	output  string
	timeout time.Duration
	tls     tlsFlags
	// user and password authenticate every call (HTTP Basic).
	user, password string
}

// tlsFlags are the client side of TLS: --tls-ca, --tls-cert, --tls-key
// (env STRATA_TLS_CA, STRATA_TLS_CERT, STRATA_TLS_KEY). Any of them turns
// TLS on.
type tlsFlags struct{ ca, cert, key string }

func (f *tlsFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.ca, "tls-ca", os.Getenv("STRATA_TLS_CA"), "PEM CA bundle to verify the server with; turns TLS on (env STRATA_TLS_CA; default system roots when only --tls-cert is set)")
	fs.StringVar(&f.cert, "tls-cert", os.Getenv("STRATA_TLS_CERT"), "PEM client certificate, for servers that ask for one (env STRATA_TLS_CERT)")
	fs.StringVar(&f.key, "tls-key", os.Getenv("STRATA_TLS_KEY"), "PEM key of --tls-cert (env STRATA_TLS_KEY)")
}

// creds are the transport credentials the flags ask for: plaintext when
// none is set.
func (f *tlsFlags) creds() (credentials.TransportCredentials, error) {
	if f.ca == "" && f.cert == "" && f.key == "" {
		return nil, nil
	}
	cfg, err := tlsconf.ClientFiles(f.ca, f.cert, f.key)
	if err != nil {
		return nil, err
	}
	return credentials.NewTLS(cfg), nil
}

func (f *clientFlags) register(cmd *cobra.Command) {
	f.registerFlags(cmd, "o", "table", "output format: table or json")
}

// registerFlags is register with --output's shorthand ("" for none:
// consume keeps -o for its offsets, as rpk does), default and help.
func (f *clientFlags) registerFlags(cmd *cobra.Command, outputShort, outputDefault, outputHelp string) {
	server := os.Getenv("STRATA_SERVER")
	if server == "" {
		server = "localhost:9191"
	}
	cmd.PersistentFlags().StringVar(&f.server, "server", server, "gateway gRPC address (env STRATA_SERVER)")
	cmd.PersistentFlags().StringVarP(&f.output, "output", outputShort, outputDefault, outputHelp)
	cmd.PersistentFlags().DurationVar(&f.timeout, "timeout", 30*time.Second, "how long to wait for the server")
	f.tls.register(cmd.PersistentFlags())
	cmd.PersistentFlags().StringVar(&f.user, "user", os.Getenv("STRATA_USER"), "authenticate as this user (env STRATA_USER)")
	cmd.PersistentFlags().StringVar(&f.password, "password", "", "the user's password (env STRATA_PASSWORD, which keeps it out of the process list)")
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
	creds, err := f.tls.creds()
	if err != nil {
		return err
	}
	var opts []grpc.DialOption
	if user, pass, ok := f.credentials(); ok {
		opts = append(opts, grpc.WithPerRPCCredentials(basicAuth{user, pass}))
	}
	conn, err := rpc.DialWith(creds, []string{f.server}, opts...)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	if err := run(ctx, conn); err != nil {
		if status.Code(err) == codes.Unavailable && errs.From(err) == nil {
			return connectError(f.server, err)
		}
		if errs.From(err) == nil && ctx.Err() != nil {
			return fmt.Errorf("no answer from %s within %s: %s", f.server, f.timeout, errs.Message(err))
		}
		return fmt.Errorf("%s", errs.Message(err))
	}
	return nil
}

// kafkaFlags select the Kafka protocol for the commands that speak both.
type kafkaFlags struct {
	protocol string
	brokers  string
	tls      bool // the listener is SSL (the gateway's --kafka-tls): dial it with the --tls-* files
}

func (k *kafkaFlags) register(cmd *cobra.Command) {
	brokers := os.Getenv("STRATA_BROKERS")
	if brokers == "" {
		brokers = "localhost:9092"
	}
	cmd.Flags().StringVar(&k.protocol, "protocol", "grpc", "protocol to the gateway: grpc (--server) or kafka (--brokers)")
	cmd.Flags().StringVar(&k.brokers, "brokers", brokers, "comma-separated Kafka bootstrap addresses for --protocol kafka (env STRATA_BROKERS)")
	cmd.Flags().BoolVar(&k.tls, "kafka-tls", false, "--protocol kafka over TLS (Kafka's SSL), verified with --tls-ca and with --tls-cert/--tls-key as the client certificate")
}

// kafka says whether the Kafka protocol is chosen.
func (k *kafkaFlags) kafka() (bool, error) {
	switch k.protocol {
	case "grpc":
		return false, nil
	case "kafka":
		return true, nil
	}
	return false, fmt.Errorf("--protocol must be grpc or kafka, not %q", k.protocol)
}

func (k *kafkaFlags) seeds() []string {
	var out []string
	for _, b := range strings.Split(k.brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

func (f *clientFlags) json() bool { return f.output == "json" }

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

// credentials are --user and --password (or STRATA_PASSWORD); ok is false
// without a user.
func (f *clientFlags) credentials() (user, pass string, ok bool) {
	if f.user == "" {
		return "", "", false
	}
	pass = f.password
	if pass == "" {
		pass = os.Getenv("STRATA_PASSWORD")
	}
	return f.user, pass, true
}

// basicAuth sends HTTP Basic credentials with every call. It does not
// require TLS: the CLI dials plaintext unless --tls-* is set, and a
// loopback gateway is the common case.
type basicAuth struct{ user, password string }

func (b basicAuth) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(b.user+":"+b.password))}, nil
}

func (basicAuth) RequireTransportSecurity() bool { return false }

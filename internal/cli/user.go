package cli

// strata user: SASL/SCRAM users (Kafka's kafka-configs.sh --alter
// --add-config 'SCRAM-SHA-512=[password=…]' --entity-type users). The
// password is salted here (PBKDF2) and only the salted password crosses
// the network; the controller keeps only the keys derived from it.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/scramcred"
	"google.golang.org/grpc"
)

func newUserCmd() *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{Use: "user", Short: "Manage SASL/SCRAM users (Kafka SASL listeners, gRPC and REST Basic authentication)"}
	f.register(cmd)
	cmd.AddCommand(newUserCreateCmd(&f), newUserDeleteCmd(&f), newUserListCmd(&f))
	return cmd
}

// mechanismsFlag reads --mechanism values (every mechanism when none).
func mechanismsFlag(names []string) ([]scramcred.Mechanism, error) {
	if len(names) == 0 {
		return scramcred.Mechanisms, nil
	}
	var out []scramcred.Mechanism
	for _, n := range names {
		m, ok := scramcred.Parse(n)
		if !ok {
			return nil, fmt.Errorf("unknown mechanism %q (SCRAM-SHA-256 or SCRAM-SHA-512)", n)
		}
		out = append(out, m)
	}
	return out, nil
}

func userCall(f *clientFlags, run func(ctx context.Context, c adminv1.UserServiceClient) error) error {
	return f.call(func(ctx context.Context, conn grpc.ClientConnInterface) error {
		return run(ctx, adminv1.NewUserServiceClient(conn))
	})
}

func newUserCreateCmd(f *clientFlags) *cobra.Command {
	var password string
	var fromStdin bool
	var mechs []string
	var iterations int
	cmd := &cobra.Command{
		Use:   "create USER",
		Short: "Create a user, or set a user's password (SCRAM-SHA-256 and SCRAM-SHA-512 unless --mechanism)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			user := args[0]
			if err := scramcred.ValidUser(user); err != nil {
				return err
			}
			if fromStdin == (password != "") {
				return errors.New("give the password with exactly one of --password or --password-stdin")
			}
			if fromStdin {
				line, err := bufio.NewReader(io.LimitReader(cmd.InOrStdin(), 1<<10)).ReadString('\n')
				if err != nil && err != io.EOF {
					return fmt.Errorf("reading the password: %w", err)
				}
				password = strings.TrimRight(line, "\r\n")
			}
			if password == "" {
				return errors.New("the password is empty")
			}
			ms, err := mechanismsFlag(mechs)
			if err != nil {
				return err
			}
			if iterations < scramcred.MinIterations || iterations > scramcred.MaxIterations {
				return fmt.Errorf("--iterations must be %d to %d", scramcred.MinIterations, scramcred.MaxIterations)
			}
			req := &adminv1.AlterUserScramCredentialsRequest{}
			for _, m := range ms {
				salt := scramcred.Salt()
				salted, err := scramcred.SaltPassword(m, password, salt, iterations)
				if err != nil {
					return err
				}
				req.Upsertions = append(req.Upsertions, &adminv1.ScramCredentialUpsertion{User: user, Mechanism: m, Iterations: int32(iterations), Salt: salt, SaltedPassword: salted})
			}
			return alterUsers(f, req, "created")
		},
	}
	cmd.Flags().StringVar(&password, "password", "", "the new user's password (visible in the process list: prefer --password-stdin)")
	cmd.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the new user's password from the first line of stdin")
	cmd.Flags().StringSliceVar(&mechs, "mechanism", nil, "SCRAM-SHA-256, SCRAM-SHA-512 or both, comma-separated (default both)")
	cmd.Flags().IntVar(&iterations, "iterations", scramcred.DefaultIterations, "PBKDF2 iterations (4096 to 16384)")
	return cmd
}

func newUserDeleteCmd(f *clientFlags) *cobra.Command {
	var mechs []string
	cmd := &cobra.Command{
		Use:   "delete USER",
		Short: "Delete a user's credentials (every mechanism it has unless --mechanism)",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			user := args[0]
			ms, err := mechanismsFlag(mechs)
			if err != nil {
				return err
			}
			if len(mechs) == 0 { // only the mechanisms the user has
				ms = nil
				err := userCall(f, func(ctx context.Context, c adminv1.UserServiceClient) error {
					resp, err := c.DescribeUserScramCredentials(ctx, &adminv1.DescribeUserScramCredentialsRequest{Users: []string{user}})
					if err != nil {
						return err
					}
					for _, r := range resp.GetResults() {
						if r.GetError() != nil {
							return fmt.Errorf("%s", r.GetError().GetMessage())
						}
						for _, ci := range r.GetCredentials() {
							ms = append(ms, ci.GetMechanism())
						}
					}
					return nil
				})
				if err != nil {
					return err
				}
			}
			req := &adminv1.AlterUserScramCredentialsRequest{}
			for _, m := range ms {
				req.Deletions = append(req.Deletions, &adminv1.ScramCredentialDeletion{User: user, Mechanism: m})
			}
			return alterUsers(f, req, "deleted")
		},
	}
	cmd.Flags().StringSliceVar(&mechs, "mechanism", nil, "delete only these mechanisms' credentials, comma-separated")
	return cmd
}

func alterUsers(f *clientFlags, req *adminv1.AlterUserScramCredentialsRequest, done string) error {
	return userCall(f, func(ctx context.Context, c adminv1.UserServiceClient) error {
		resp, err := c.AlterUserScramCredentials(ctx, req)
		if err != nil {
			return err
		}
		for _, r := range resp.GetResults() {
			if e := r.GetError(); e != nil {
				return errs.FromKafkaCode(int16(e.GetKafkaErrorCode()), "user "+r.GetUser()+": "+e.GetMessage())
			}
			if f.json() {
				if err := printJSON(f.out, map[string]string{"user": r.GetUser(), "result": done}); err != nil {
					return err
				}
				continue
			}
			fmt.Fprintf(f.out, "user %s %s\n", r.GetUser(), done)
		}
		return nil
	})
}

type userJSON struct {
	User       string          `json:"user"`
	Mechanisms []mechanismJSON `json:"mechanisms"`
}

type mechanismJSON struct {
	Mechanism  string `json:"mechanism"`
	Iterations int32  `json:"iterations"`
}

func newUserListCmd(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list [USER...]",
		Short: "List users and their SCRAM mechanisms (never a password or key)",
		RunE: func(_ *cobra.Command, args []string) error {
			return userCall(f, func(ctx context.Context, c adminv1.UserServiceClient) error {
				resp, err := c.DescribeUserScramCredentials(ctx, &adminv1.DescribeUserScramCredentialsRequest{Users: args})
				if err != nil {
					return err
				}
				out := []userJSON{}
				for _, r := range resp.GetResults() {
					if e := r.GetError(); e != nil {
						return fmt.Errorf("user %s: %s", r.GetUser(), e.GetMessage())
					}
					u := userJSON{User: r.GetUser()}
					for _, ci := range r.GetCredentials() {
						u.Mechanisms = append(u.Mechanisms, mechanismJSON{scramcred.Name(ci.GetMechanism()), ci.GetIterations()})
					}
					out = append(out, u)
				}
				if f.json() {
					return printJSON(f.out, out)
				}
				w := table(f.out)
				fmt.Fprintln(w, "USER\tMECHANISMS")
				for _, u := range out {
					var ms []string
					for _, m := range u.Mechanisms {
						ms = append(ms, fmt.Sprintf("%s (%d iterations)", m.Mechanism, m.Iterations))
					}
					fmt.Fprintf(w, "%s\t%s\n", u.User, strings.Join(ms, ", "))
				}
				return w.Flush()
			})
		},
	}
}

package launch

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/strata-io/strata/internal/config"
	"github.com/strata-io/strata/internal/logging"
	"github.com/strata-io/strata/internal/memlimit"
	"github.com/strata-io/strata/services/controller"
	"github.com/strata-io/strata/services/gateway"
	"github.com/strata-io/strata/services/storage"
)

// service is a started role.
type service interface {
	Stop()
	Fatal() <-chan error
}

// logFlags are the flags every process-running command shares.
type logFlags struct{ format, level, config string }

func (l *logFlags) register(fs *pflag.FlagSet, withConfig bool) {
	fs.StringVar(&l.format, "log-format", "text", "log format: text or json")
	fs.StringVar(&l.level, "log-level", "info", "log level: debug, info, warn or error")
	if withConfig {
		fs.StringVar(&l.config, "config", "", "YAML config file; keys are flag names, flags and STRATA_* env vars override it")
	}
}

// setup applies the config file and environment to cmd's flags and builds
// the logger.
func (l *logFlags) setup(cmd *cobra.Command) (*slog.Logger, error) {
	if err := config.Load(cmd.Flags(), l.config); err != nil {
		return nil, err
	}
	log, err := logging.New(cmd.ErrOrStderr(), l.format, l.level)
	if err != nil {
		return nil, err
	}
	slog.SetDefault(log)
	return log, nil
}

// roleCmd builds `strata <role>`: flags (also from --config and STRATA_*),
// start, then run until SIGINT/SIGTERM or a fatal error.
func roleCmd(use, short string, register func(*pflag.FlagSet), start func(*slog.Logger) (service, error)) *cobra.Command {
	var lf logFlags
	var memoryLimitMiB int64
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := lf.setup(cmd)
			if err != nil {
				return err
			}
			stopLimit, err := followMemoryLimit(memoryLimitMiB)
			if err != nil {
				return err
			}
			defer stopLimit()
			svc, err := start(log)
			if err != nil {
				return err
			}
			return runUntilSignal(svc)
		},
	}
	register(cmd.Flags())
	lf.register(cmd.Flags(), true)
	cmd.Flags().Int64Var(&memoryLimitMiB, "memory-limit-mib", 0, memoryLimitUsage+"; default none")
	return cmd
}

// followMemoryLimit applies --memory-limit-mib until the returned func is
// called.
func followMemoryLimit(mib int64) (stop func(), err error) {
	if mib < 0 {
		return nil, fmt.Errorf("--memory-limit-mib must be 0 (no limit) or more, not %d", mib)
	}
	return memlimit.Follow(context.Background(), mib<<20, 100*time.Millisecond), nil
}

// memoryLimitUsage describes --memory-limit-mib (internal/memlimit).
const memoryLimitUsage = "soft memory limit of the process in MiB, raised to 1.5× the live heap when that is larger, and the only trigger of garbage collection; 0: none (GOMEMLIMIT, when set, wins; GOGC, when set, stays)"

func runUntilSignal(svcs ...service) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fatal := make(chan error, len(svcs))
	for _, s := range svcs {
		go func(ch <-chan error) {
			if ch == nil {
				return
			}
			if err, ok := <-ch; ok {
				fatal <- err
			}
		}(s.Fatal())
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-fatal:
	}
	for i := len(svcs) - 1; i >= 0; i-- {
		svcs[i].Stop()
	}
	return err
}

func newControllerCmd() *cobra.Command {
	var cfg controller.Config
	return roleCmd("controller", "Run a controller (embedded etcd, metadata, elections)", cfg.RegisterFlags,
		func(log *slog.Logger) (service, error) { return controller.Start(cfg, log) })
}

func newStorageCmd() *cobra.Command {
	var cfg storage.Config
	return roleCmd("storage", "Run a storage node (partition replicas on disk)", cfg.RegisterFlags,
		func(log *slog.Logger) (service, error) { return storage.Start(cfg, log) })
}

func newGatewayCmd() *cobra.Command {
	var cfg gateway.Config
	return roleCmd("gateway", "Run a gateway (Kafka protocol, public gRPC API, REST/JSON, HTTP health and metrics)", cfg.RegisterFlags,
		func(log *slog.Logger) (service, error) { return gateway.Start(cfg, log) })
}

package launch

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/strata-io/strata/services/controller"
	"github.com/strata-io/strata/services/gateway"
	"github.com/strata-io/strata/services/storage"
)

// devConfig is what `strata dev` lets a user choose; everything else is
// fixed so the cluster works with no flags at all.
type devConfig struct {
	dataDir      string
	storageNodes int
	grpcAddr     string
	httpAddr     string
	kafkaAddr    string
	leaseTTL     time.Duration
	// kafka holds the gateway's Kafka settings (auto-create, num.partitions, …).
	kafka gateway.Config
	// topicDefaults are the controller's --default-topic-config.
	topicDefaults []string
	// memoryLimitMiB is the soft memory limit's floor (internal/memlimit).
	memoryLimitMiB int64
}

// defaultDevMemoryLimitMiB keeps a dev cluster under 150 MB resident at
// full-speed produce and consume (143 MB in bench-compare against 205
// without it; docs/performance.md, Memory); the limit grows with the live
// heap, so many partitions never starve it.
const defaultDevMemoryLimitMiB = 100

func newDevCmd() *cobra.Command {
	var dc devConfig
	var lf logFlags
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a whole cluster in one process: controller, storage nodes and a gateway on loopback",
		Long: "Run a controller (with embedded etcd), storage nodes and a gateway in one process.\n" +
			"The roles still talk only over gRPC on 127.0.0.1. Data lives under --data-dir, so a\n" +
			"restart keeps every topic. Stop with Ctrl-C.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := lf.setup(cmd)
			if err != nil {
				return err
			}
			stopLimit, err := followMemoryLimit(dc.memoryLimitMiB)
			if err != nil {
				return err
			}
			defer stopLimit()
			svcs, err := startDev(dc, log)
			if err != nil {
				return err
			}
			gw := svcs[len(svcs)-1].(*gateway.Gateway)
			ctrl := svcs[len(svcs)-2].(*controller.Controller)
			fmt.Fprintf(cmd.OutOrStdout(), "Strata dev cluster is up (data in %s)\n"+
				"  gRPC API  %s    (strata topic list --server %s)\n"+
				"  HTTP      http://%s/metrics  /healthz  /readyz\n"+
				"  Kafka     %s\n"+
				"  controller %s, %d storage nodes\nPress Ctrl-C to stop.\n",
				dc.dataDir, gw.GRPCAddr(), gw.GRPCAddr(), gw.HTTPAddr(), dc.kafkaAddr,
				ctrl.Addr(), dc.storageNodes)
			return runUntilSignal(svcs...)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&dc.dataDir, "data-dir", "./strata-data", "data directory of the whole dev cluster")
	fs.IntVar(&dc.storageNodes, "storage-nodes", 3, "number of storage nodes")
	fs.StringVar(&dc.grpcAddr, "grpc-addr", "127.0.0.1:9191", "gateway gRPC API address")
	fs.StringVar(&dc.httpAddr, "http-addr", "127.0.0.1:8080", "gateway HTTP address")
	fs.StringVar(&dc.kafkaAddr, "kafka-addr", "127.0.0.1:9092", "gateway Kafka address")
	fs.DurationVar(&dc.leaseTTL, "member-lease-ttl", 10*time.Second, "storage node lease TTL")
	dc.kafka.RegisterKafkaFlags(fs)
	fs.Int64Var(&dc.memoryLimitMiB, "memory-limit-mib", defaultDevMemoryLimitMiB, memoryLimitUsage)
	fs.StringSliceVar(&dc.topicDefaults, "default-topic-config", nil, "key=value set on new topics that do not set key (repeatable), e.g. min.insync.replicas=2")
	lf.register(fs, true)
	return cmd
}

// freeLoopbackAddr returns a loopback address with a port free right now,
// for listeners (etcd's) that must know their port before binding.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startDev starts the roles in dependency order; the gateway comes last.
func startDev(dc devConfig, log *slog.Logger) (svcs []service, err error) {
	defer func() {
		if err != nil {
			for i := len(svcs) - 1; i >= 0; i-- {
				svcs[i].Stop()
			}
		}
	}()
	if dc.storageNodes < 1 || dc.storageNodes > 16 {
		return nil, fmt.Errorf("--storage-nodes must be between 1 and 16, got %d", dc.storageNodes)
	}
	peer, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	client, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	cc := defaults((*controller.Config).RegisterFlags)
	cc.Name, cc.DataDir = "dev", filepath.Join(dc.dataDir, "controller")
	cc.GRPCAddr, cc.HTTPAddr, cc.EtcdPeerAddr, cc.EtcdClientAddr = "127.0.0.1:0", "127.0.0.1:0", peer, client
	cc.MemberLeaseTTL = dc.leaseTTL
	cc.DefaultTopicConfigs = dc.topicDefaults
	ctrl, err := controller.Start(cc, log)
	if err != nil {
		return nil, err
	}
	svcs = append(svcs, ctrl)
	nodes := make([]*storage.Node, 0, dc.storageNodes)
	for i := 1; i <= dc.storageNodes; i++ {
		sc := defaults((*storage.Config).RegisterFlags)
		sc.DataDir = filepath.Join(dc.dataDir, "storage-"+strconv.Itoa(i))
		sc.GRPCAddr, sc.HTTPAddr, sc.Controllers = "127.0.0.1:0", "127.0.0.1:0", []string{ctrl.Addr()}
		n, err := storage.Start(sc, log)
		if err != nil {
			return svcs, err
		}
		svcs = append(svcs, n)
		nodes = append(nodes, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range nodes {
		if err := n.WaitReady(ctx); err != nil {
			return svcs, err
		}
	}
	gc := defaults((*gateway.Config).RegisterFlags)
	gc.GRPCAddr, gc.HTTPAddr, gc.KafkaAddr, gc.AdvertiseKafka = dc.grpcAddr, dc.httpAddr, dc.kafkaAddr, dc.kafkaAddr
	gc.Controllers = []string{ctrl.Addr()}
	gc.CopyKafkaSettings(dc.kafka)
	gw, err := gateway.Start(gc, log)
	if err != nil {
		return svcs, err
	}
	// Stop order (runUntilSignal stops from the end): gateway, controller,
	// then storage nodes. With the controller gone first, the whole-cluster
	// shutdown is not mistaken for storage nodes failing one by one, so no
	// leaders move and the next start finds the cluster as it left it.
	return []service{together(svcs[1:]), ctrl, gw}, nil
}

// together stops several services at once.
type together []service

func (t together) Stop() {
	var wg sync.WaitGroup
	for _, s := range t {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Stop()
		}()
	}
	wg.Wait()
}

func (t together) Fatal() <-chan error {
	out := make(chan error, len(t))
	for _, s := range t {
		go func(ch <-chan error) {
			if err, ok := <-ch; ok && ch != nil {
				out <- err
			}
		}(s.Fatal())
	}
	return out
}

// defaults returns a role config holding its flag defaults.
func defaults[C any](register func(*C, *pflag.FlagSet)) C {
	var c C
	register(&c, pflag.NewFlagSet("defaults", pflag.ContinueOnError))
	return c
}

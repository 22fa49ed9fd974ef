package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
)

type controllerJSON struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	Active  bool   `json:"active"`
}

type storageNodeJSON struct {
	ID       int32  `json:"id"`
	Address  string `json:"address"`
	Rack     string `json:"rack"`
	State    string `json:"state"`
	Replicas int32  `json:"replicas"`
	Leaders  int32  `json:"leaders"`
	// Disk usage, when the node answered the gateway.
	LogDir           string `json:"log_dir,omitempty"`
	LogDirFreeBytes  uint64 `json:"log_dir_free_bytes"`
	LogDirTotalBytes uint64 `json:"log_dir_total_bytes"`
	PartitionBytes   uint64 `json:"partition_bytes"`
	LowDiskSpace     bool   `json:"low_disk_space"`
	// Replicas the node reported offline after a storage fault.
	OfflineReplicas int32 `json:"offline_replicas"`
}

type gatewayJSON struct {
	ID           int32  `json:"id"`
	KafkaAddress string `json:"kafka_address"`
	GRPCAddress  string `json:"grpc_address"`
}

type clusterJSON struct {
	ClusterID    string            `json:"cluster_id"`
	Controllers  []controllerJSON  `json:"controllers"`
	StorageNodes []storageNodeJSON `json:"storage_nodes"`
	Gateways     []gatewayJSON     `json:"gateways"`
}

func nodeState(s adminv1.NodeState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "NODE_STATE_"))
}

func toClusterJSON(r *adminv1.DescribeClusterResponse) clusterJSON {
	out := clusterJSON{ClusterID: r.GetClusterId(), Controllers: []controllerJSON{}, StorageNodes: []storageNodeJSON{}, Gateways: []gatewayJSON{}}
	for _, c := range r.GetControllers() {
		out.Controllers = append(out.Controllers, controllerJSON{c.GetName(), c.GetAddress(), c.GetActive()})
	}
	for _, n := range r.GetStorageNodes() {
		out.StorageNodes = append(out.StorageNodes, storageNodeJSON{
			ID: n.GetId(), Address: n.GetAddress(), Rack: n.GetRack(), State: nodeState(n.GetState()), Replicas: n.GetReplicas(), Leaders: n.GetLeaders(),
			LogDir: n.GetLogDir(), LogDirFreeBytes: n.GetLogDirFreeBytes(), LogDirTotalBytes: n.GetLogDirTotalBytes(),
			PartitionBytes: n.GetPartitionBytes(), LowDiskSpace: n.GetLowDiskSpace(), OfflineReplicas: n.GetOfflineReplicas(),
		})
	}
	for _, g := range r.GetGateways() {
		out.Gateways = append(out.Gateways, gatewayJSON{g.GetId(), g.GetKafkaAddress(), g.GetGrpcAddress()})
	}
	return out
}

func newClusterCmd() *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{Use: "cluster", Short: "Inspect the cluster and its health, balance it, drain nodes and elect preferred leaders"}
	f.register(cmd)
	describe := &cobra.Command{
		Use:   "describe",
		Short: "List controllers, storage nodes and gateways",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return f.admin(func(ctx context.Context, c adminv1.AdminServiceClient) error {
				resp, err := c.DescribeCluster(ctx, &adminv1.DescribeClusterRequest{})
				if err != nil {
					return err
				}
				cl := toClusterJSON(resp)
				if f.json() {
					return printJSON(f.out, cl)
				}
				fmt.Fprintf(f.out, "Cluster: %s\n\n", cl.ClusterID)
				w := table(f.out)
				fmt.Fprintln(w, "CONTROLLER\tADDRESS\tACTIVE")
				for _, c := range cl.Controllers {
					fmt.Fprintf(w, "%s\t%s\t%v\n", c.ID, c.Address, c.Active)
				}
				fmt.Fprintln(w, "\nSTORAGE NODE\tADDRESS\tRACK\tSTATE\tREPLICAS\tLEADERS\tOFFLINE\tLOG DIR\tFREE / TOTAL\tPARTITIONS")
				for _, n := range cl.StorageNodes {
					rack := n.Rack
					if rack == "" {
						rack = "-"
					}
					fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", n.ID, n.Address, rack, n.State, n.Replicas, n.Leaders, n.OfflineReplicas, diskColumns(n))
				}
				fmt.Fprintln(w, "\nGATEWAY\tKAFKA\tGRPC")
				for _, g := range cl.Gateways {
					fmt.Fprintf(w, "%d\t%s\t%s\n", g.ID, g.KafkaAddress, g.GRPCAddress)
				}
				return w.Flush()
			})
		},
	}
	cmd.AddCommand(describe, newClusterHealthCmd(&f), newRebalanceCmd(&f), newDrainCmd(&f), newElectLeadersCmd(&f))
	return cmd
}

// diskColumns renders a node's log dir, free / total space (marked LOW
// below its warning threshold) and partition bytes; "-" when unknown.
func diskColumns(n storageNodeJSON) string {
	if n.LogDirTotalBytes == 0 {
		return "-\t-\t-"
	}
	space := humanBytes(n.LogDirFreeBytes) + " / " + humanBytes(n.LogDirTotalBytes)
	if n.LowDiskSpace {
		space += " LOW"
	}
	return n.LogDir + "\t" + space + "\t" + humanBytes(n.PartitionBytes)
}

// humanBytes renders b in binary units with one decimal: 1.5 GiB.
func humanBytes(b uint64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%d B", b)
	}
	div, exp := uint64(unit), 0
	for n := b / unit; n >= unit && exp < 5; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(b)/float64(div), "KMGTPE"[exp])
}

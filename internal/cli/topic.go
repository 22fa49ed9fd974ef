package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
)

type topicSummaryJSON struct {
	Name              string `json:"name"`
	Partitions        int32  `json:"partitions"`
	ReplicationFactor int32  `json:"replication_factor"`
}

type partitionJSON struct {
	Partition        int32             `json:"partition"`
	Leader           int32             `json:"leader"`
	LeaderEpoch      int32             `json:"leader_epoch"`
	Replicas         []int32           `json:"replicas"`
	ISR              []int32           `json:"isr"`
	AddingReplicas   []int32           `json:"adding_replicas"`
	RemovingReplicas []int32           `json:"removing_replicas"`
	OfflineReplicas  []int32           `json:"offline_replicas"`
	OfflineReasons   map[string]string `json:"offline_reasons"` // node id → reason
	HighWatermark    int64             `json:"high_watermark"`
	LastStableOffset int64             `json:"last_stable_offset"`
	LogEndOffset     int64             `json:"log_end_offset"`
	ReplicaLags      []replicaLagJSON  `json:"replica_lags"`
}

type replicaLagJSON struct {
	NodeID       int32 `json:"node_id"`
	LogEndOffset int64 `json:"log_end_offset"`
	Lag          int64 `json:"lag"`
	LagMs        int64 `json:"lag_ms"`
}

type topicJSON struct {
	Name              string            `json:"name"`
	TopicID           string            `json:"topic_id"`
	ReplicationFactor int32             `json:"replication_factor"`
	Partitions        []partitionJSON   `json:"partitions"`
	Configs           map[string]string `json:"configs"`
}

func toTopicJSON(t *adminv1.Topic) topicJSON {
	out := topicJSON{Name: t.GetName(), TopicID: t.GetTopicId(), ReplicationFactor: t.GetReplicationFactor(),
		Partitions: []partitionJSON{}, Configs: map[string]string{}}
	for _, p := range t.GetPartitions() {
		pj := partitionJSON{Partition: p.GetPartition(), Leader: p.GetLeader(), LeaderEpoch: p.GetLeaderEpoch(),
			Replicas: nonNil(p.GetReplicas()), ISR: nonNil(p.GetIsr()),
			AddingReplicas: nonNil(p.GetAddingReplicas()), RemovingReplicas: nonNil(p.GetRemovingReplicas()),
			OfflineReplicas: nonNil(p.GetOfflineReplicas()), HighWatermark: p.GetHighWatermark(), LogEndOffset: p.GetLogEndOffset(),
			LastStableOffset: p.GetLastStableOffset(),
			ReplicaLags:      []replicaLagJSON{}, OfflineReasons: map[string]string{}}
		for _, o := range p.GetOfflineReasons() {
			pj.OfflineReasons[fmt.Sprint(o.GetNodeId())] = o.GetReason()
		}
		for _, l := range p.GetReplicaLags() {
			pj.ReplicaLags = append(pj.ReplicaLags, replicaLagJSON{l.GetNodeId(), l.GetLogEndOffset(), l.GetLag(), l.GetLagMs()})
		}
		out.Partitions = append(out.Partitions, pj)
	}
	for k, v := range t.GetConfigs() {
		out.Configs[k] = v
	}
	return out
}

func nonNil(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}

func joinInts(s []int32) string {
	parts := make([]string, len(s))
	for i, v := range s {
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, ",")
}

// parseConfigs turns repeated k=v flags into a map.
func parseConfigs(kvs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--config %q is not key=value", kv)
		}
		out[k] = v
	}
	return out, nil
}

func newTopicCmd() *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{Use: "topic", Short: "Create, list, describe, alter and delete topics"}
	f.register(cmd)

	var partitions, rf int32
	var configs []string
	var assignment string
	create := &cobra.Command{
		Use:   "create NAME --partitions N --replication-factor R [--config k=v]... | --replica-assignment 1:2,2:3,...",
		Short: "Create a topic",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfgs, err := parseConfigs(configs)
			if err != nil {
				return err
			}
			req := &adminv1.CreateTopicRequest{Name: args[0], Partitions: partitions, ReplicationFactor: rf, Configs: cfgs}
			if assignment != "" {
				if cmd.Flags().Changed("partitions") || cmd.Flags().Changed("replication-factor") {
					return fmt.Errorf("--replica-assignment sets the partitions and replicas: leave out --partitions and --replication-factor")
				}
				if req.Assignments, err = parseAssignment(assignment, 0); err != nil {
					return err
				}
				req.Partitions, req.ReplicationFactor = 0, 0
			}
			return f.admin(func(ctx context.Context, c adminv1.AdminServiceClient) error {
				resp, err := c.CreateTopic(ctx, req)
				if err != nil {
					return err
				}
				if f.json() {
					return printJSON(f.out, toTopicJSON(resp.GetTopic()))
				}
				fmt.Fprintf(f.out, "Created topic %s with %d partitions and replication factor %d.\n", args[0],
					resp.GetTopic().GetPartitionCount(), resp.GetTopic().GetReplicationFactor())
				return nil
			})
		},
	}
	create.Flags().Int32Var(&partitions, "partitions", 1, "number of partitions")
	create.Flags().Int32Var(&rf, "replication-factor", 1, "replicas per partition")
	create.Flags().StringArrayVar(&configs, "config", nil, "topic config key=value (repeatable)")
	create.Flags().StringVar(&assignment, "replica-assignment", "",
		"place replicas yourself, as kafka-topics.sh does: storage node ids per partition, partitions separated by commas, replicas by colons (first = leader), e.g. 1:2,2:3")

	list := &cobra.Command{
		Use:   "list",
		Short: "List topics",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return f.admin(func(ctx context.Context, c adminv1.AdminServiceClient) error {
				resp, err := c.ListTopics(ctx, &adminv1.ListTopicsRequest{})
				if err != nil {
					return err
				}
				if f.json() {
					out := []topicSummaryJSON{}
					for _, t := range resp.GetTopics() {
						out = append(out, topicSummaryJSON{t.GetName(), t.GetPartitionCount(), t.GetReplicationFactor()})
					}
					return printJSON(f.out, out)
				}
				w := table(f.out)
				fmt.Fprintln(w, "NAME\tPARTITIONS\tREPLICATION FACTOR")
				for _, t := range resp.GetTopics() {
					fmt.Fprintf(w, "%s\t%d\t%d\n", t.GetName(), t.GetPartitionCount(), t.GetReplicationFactor())
				}
				return w.Flush()
			})
		},
	}

	describe := &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a topic's partitions, leaders, replicas, ISR and configs",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return f.admin(func(ctx context.Context, c adminv1.AdminServiceClient) error {
				resp, err := c.DescribeTopic(ctx, &adminv1.DescribeTopicRequest{Name: args[0]})
				if err != nil {
					return err
				}
				if f.json() {
					return printJSON(f.out, toTopicJSON(resp.GetTopic()))
				}
				return printTopic(f.out, resp.GetTopic())
			})
		},
	}

	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a topic and its data",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return f.admin(func(ctx context.Context, c adminv1.AdminServiceClient) error {
				if _, err := c.DeleteTopic(ctx, &adminv1.DeleteTopicRequest{Name: args[0]}); err != nil {
					return err
				}
				fmt.Fprintf(f.out, "Deleted topic %s.\n", args[0])
				return nil
			})
		},
	}

	var alterSet, alterRemove []string
	alter := &cobra.Command{
		Use:   "alter NAME --config k=v... [--delete-config k]...",
		Short: "Set or remove topic configs",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			set, err := parseConfigs(alterSet)
			if err != nil {
				return err
			}
			if len(set)+len(alterRemove) == 0 {
				return fmt.Errorf("nothing to change: give --config k=v or --delete-config k")
			}
			return f.admin(func(ctx context.Context, c adminv1.AdminServiceClient) error {
				resp, err := c.AlterTopicConfigs(ctx, &adminv1.AlterTopicConfigsRequest{Name: args[0], Set: set, Remove: alterRemove})
				if err != nil {
					return err
				}
				if f.json() {
					return printJSON(f.out, resp.GetConfigs())
				}
				fmt.Fprintf(f.out, "Updated topic %s: %s\n", args[0], formatConfigs(resp.GetConfigs()))
				return nil
			})
		},
	}
	alter.Flags().StringArrayVar(&alterSet, "config", nil, "config key=value to set (repeatable)")
	alter.Flags().StringArrayVar(&alterRemove, "delete-config", nil, "config key to return to its default (repeatable)")

	var total int32
	var addAssignment string
	addParts := &cobra.Command{
		Use:   "add-partitions NAME --total N",
		Short: "Grow a topic to N partitions",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			req := &adminv1.AddPartitionsRequest{Name: args[0], TotalCount: total}
			if addAssignment != "" {
				var err error
				if req.Assignments, err = parseAssignment(addAssignment, -1); err != nil {
					return err
				}
				for i, a := range req.Assignments { // the new partitions end at total-1
					a.Partition = total - int32(len(req.Assignments)) + int32(i)
				}
			}
			return f.admin(func(ctx context.Context, c adminv1.AdminServiceClient) error {
				resp, err := c.AddPartitions(ctx, req)
				if err != nil {
					return err
				}
				if f.json() {
					return printJSON(f.out, toTopicJSON(resp.GetTopic()))
				}
				fmt.Fprintf(f.out, "Topic %s now has %d partitions.\n", args[0], resp.GetTopic().GetPartitionCount())
				return nil
			})
		},
	}
	addParts.Flags().Int32Var(&total, "total", 0, "partition count after the change")
	addParts.Flags().StringVar(&addAssignment, "replica-assignment", "",
		"replicas of each new partition, as for create (e.g. 1:2,2:3 for two new partitions)")
	_ = addParts.MarkFlagRequired("total")

	cmd.AddCommand(create, list, describe, del, alter, addParts, newReassignCmd(&f))
	return cmd
}

// maxAssignmentPartitions bounds a --replica-assignment.
const maxAssignmentPartitions = 100000

// parseAssignment reads kafka-topics.sh's --replica-assignment: partitions
// separated by commas, each a colon-separated list of storage node ids.
// Partitions are numbered from first (the controller checks the rest).
func parseAssignment(s string, first int32) ([]*adminv1.ReplicaAssignment, error) {
	parts := strings.Split(s, ",")
	if len(parts) > maxAssignmentPartitions {
		return nil, fmt.Errorf("--replica-assignment: %d partitions, at most %d", len(parts), maxAssignmentPartitions)
	}
	out := make([]*adminv1.ReplicaAssignment, 0, len(parts))
	for i, p := range parts {
		a := &adminv1.ReplicaAssignment{Partition: first + int32(i)}
		for _, id := range strings.Split(strings.TrimSpace(p), ":") {
			n, err := strconv.ParseInt(strings.TrimSpace(id), 10, 32)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("--replica-assignment: partition %d: %q is not a storage node id", i, id)
			}
			a.Replicas = append(a.Replicas, int32(n))
		}
		out = append(out, a)
	}
	return out, nil
}

func formatConfigs(m map[string]string) string {
	if len(m) == 0 {
		return "(no configs set)"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

func printTopic(out io.Writer, t *adminv1.Topic) error {
	fmt.Fprintf(out, "Topic: %s  Partitions: %d  Replication factor: %d  Configs: %s\n",
		t.GetName(), t.GetPartitionCount(), t.GetReplicationFactor(), formatConfigs(t.GetConfigs()))
	w := table(out)
	fmt.Fprintln(w, "PARTITION\tLEADER\tEPOCH\tREPLICAS\tISR\tOFFLINE\tHW\tLSO\tLEO\tFOLLOWER LAG\tMOVING")
	for _, p := range t.GetPartitions() {
		fmt.Fprintf(w, "%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.GetPartition(), p.GetLeader(), p.GetLeaderEpoch(),
			joinInts(p.GetReplicas()), joinInts(p.GetIsr()), offlineReplicas(p),
			offset(p.GetHighWatermark()), offset(p.GetLastStableOffset()), offset(p.GetLogEndOffset()), followerLag(p), moving(p))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, p := range t.GetPartitions() {
		for _, o := range p.GetOfflineReasons() {
			fmt.Fprintf(out, "Partition %d: replica on node %d is offline: %s\n", p.GetPartition(), o.GetNodeId(), o.GetReason())
		}
	}
	return nil
}

// offset prints an offset, "-" when the leader did not answer.
func offset(o int64) string {
	if o < 0 {
		return "-"
	}
	return fmt.Sprint(o)
}

// offlineReplicas prints the replicas their nodes reported offline.
func offlineReplicas(p *adminv1.Partition) string {
	if len(p.GetOfflineReplicas()) == 0 {
		return "-"
	}
	return joinInts(p.GetOfflineReplicas())
}

// followerLag prints node:messages for each follower the leader reports.
func followerLag(p *adminv1.Partition) string {
	var parts []string
	for _, l := range p.GetReplicaLags() {
		if l.GetNodeId() != p.GetLeader() {
			parts = append(parts, fmt.Sprintf("%d:%d", l.GetNodeId(), l.GetLag()))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

// moving prints a running reassignment as +adding -removing.
func moving(p *adminv1.Partition) string {
	if len(p.GetAddingReplicas())+len(p.GetRemovingReplicas()) == 0 {
		return "-"
	}
	var parts []string
	if a := p.GetAddingReplicas(); len(a) > 0 {
		parts = append(parts, "+"+joinInts(a))
	}
	if r := p.GetRemovingReplicas(); len(r) > 0 {
		parts = append(parts, "-"+joinInts(r))
	}
	return strings.Join(parts, " ")
}

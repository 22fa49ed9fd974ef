package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
)

// Commands that move replicas and leadership: topic reassign, cluster
// rebalance, cluster drain and cluster elect-leaders.

type moveJSON struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	From      []int32 `json:"from"`
	To        []int32 `json:"to"`
}

type movesJSON struct {
	DryRun bool       `json:"dry_run"`
	Moves  []moveJSON `json:"moves"`
}

type electedJSON struct {
	Topic       string `json:"topic"`
	Partition   int32  `json:"partition"`
	Leader      int32  `json:"leader"`
	LeaderEpoch int32  `json:"leader_epoch"`
}

func toMoveJSON(m *adminv1.PartitionMove) moveJSON {
	return moveJSON{m.GetTopic(), m.GetPartition(), nonNil(m.GetFromReplicas()), nonNil(m.GetToReplicas())}
}

// parseNodeIDs parses "4,2,3".
func parseNodeIDs(s string) ([]int32, error) {
	var out []int32
	for _, part := range strings.Split(s, ",") {
		id, err := strconv.ParseInt(strings.TrimSpace(part), 10, 32)
		if err != nil {
			return nil, fmt.Errorf("--replicas %q is not a comma-separated list of node ids", s)
		}
		out = append(out, int32(id))
	}
	return out, nil
}

// printMoves prints moves as a table or JSON, with a summary line.
func (f *clientFlags) printMoves(moves []*adminv1.PartitionMove, dryRun bool, what string) error {
	if f.json() {
		out := movesJSON{DryRun: dryRun, Moves: []moveJSON{}}
		for _, m := range moves {
			out.Moves = append(out.Moves, toMoveJSON(m))
		}
		return printJSON(f.out, out)
	}
	switch {
	case len(moves) == 0:
		fmt.Fprintf(f.out, "Nothing to move: %s.\n", what)
		return nil
	case dryRun:
		fmt.Fprintf(f.out, "Dry run: %d partition moves planned, none started.\n", len(moves))
	default:
		fmt.Fprintf(f.out, "Started %d partition moves; follow them with `strata topic describe`.\n", len(moves))
	}
	return printMoveTable(f.out, moves)
}

func printMoveTable(out io.Writer, moves []*adminv1.PartitionMove) error {
	w := table(out)
	fmt.Fprintln(w, "TOPIC\tPARTITION\tFROM\tTO")
	for _, m := range moves {
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\n", m.GetTopic(), m.GetPartition(), joinInts(m.GetFromReplicas()), joinInts(m.GetToReplicas()))
	}
	return w.Flush()
}

func newReassignCmd(f *clientFlags) *cobra.Command {
	var partition int32
	var replicas string
	var cancel bool
	cmd := &cobra.Command{
		Use:   "reassign NAME --partition P (--replicas 4,2,3 | --cancel)",
		Short: "Move a partition to a new replica list (the first is the preferred leader), or cancel its running move",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if cancel == (replicas != "") {
				return fmt.Errorf("give either --replicas or --cancel")
			}
			if cancel {
				return f.admin(func(ctx context.Context, c adminv1.AdminServiceClient) error {
					resp, err := c.CancelReassignment(ctx, &adminv1.CancelReassignmentRequest{Topic: args[0], Partition: partition})
					if err != nil {
						return err
					}
					m := resp.GetCancelled()
					if f.json() {
						return printJSON(f.out, toMoveJSON(m))
					}
					fmt.Fprintf(f.out, "Cancelled the move of %s-%d to %s; it is back on %s.\n",
						m.GetTopic(), m.GetPartition(), joinInts(m.GetToReplicas()), joinInts(m.GetFromReplicas()))
					return nil
				})
			}
			ids, err := parseNodeIDs(replicas)
			if err != nil {
				return err
			}
			return f.admin(func(ctx context.Context, c adminv1.AdminServiceClient) error {
				resp, err := c.ReassignPartition(ctx, &adminv1.ReassignPartitionRequest{Topic: args[0], Partition: partition, Replicas: ids})
				if err != nil {
					return err
				}
				m := resp.GetMove()
				if f.json() {
					return printJSON(f.out, toMoveJSON(m))
				}
				fmt.Fprintf(f.out, "Reassigning %s-%d from %s to %s; follow it with `strata topic describe %s`.\n",
					m.GetTopic(), m.GetPartition(), joinInts(m.GetFromReplicas()), joinInts(m.GetToReplicas()), m.GetTopic())
				return nil
			})
		},
	}
	cmd.Flags().Int32Var(&partition, "partition", 0, "partition number")
	cmd.Flags().StringVar(&replicas, "replicas", "", "new replica list, comma-separated node ids")
	cmd.Flags().BoolVar(&cancel, "cancel", false, "cancel the partition's running move: back to its original replicas")
	_ = cmd.MarkFlagRequired("partition")
	return cmd
}

func newRebalanceCmd(f *clientFlags) *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "rebalance [--dry-run]",
		Short: "Spread replicas and leaders evenly over the live storage nodes",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return f.admin(func(ctx context.Context, c adminv1.AdminServiceClient) error {
				resp, err := c.Rebalance(ctx, &adminv1.RebalanceRequest{DryRun: dryRun})
				if err != nil {
					return err
				}
				return f.printMoves(resp.GetMoves(), dryRun, "replicas and leaders are already balanced")
			})
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only show the moves")
	return cmd
}

func newDrainCmd(f *clientFlags) *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "drain NODE [--dry-run]",
		Short: "Move every replica off a storage node (decommission)",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 32)
			if err != nil {
				return fmt.Errorf("node %q is not a storage node id", args[0])
			}
			return f.admin(func(ctx context.Context, c adminv1.AdminServiceClient) error {
				resp, err := c.DrainNode(ctx, &adminv1.DrainNodeRequest{NodeId: int32(id), DryRun: dryRun})
				if err != nil {
					return err
				}
				return f.printMoves(resp.GetMoves(), dryRun, fmt.Sprintf("node %d holds no replicas", id))
			})
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only show the moves")
	return cmd
}

func newElectLeadersCmd(f *clientFlags) *cobra.Command {
	var topic string
	var partitions []int32
	var unclean bool
	cmd := &cobra.Command{
		Use:   "elect-leaders [--topic T] [--unclean --topic T [--partition P ...]]",
		Short: "Move leadership back to each partition's preferred replica where it is alive and in sync, or (--unclean) give leaderless partitions a leader",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if unclean {
				return f.electUnclean(topic, partitions)
			}
			if len(partitions) > 0 {
				return fmt.Errorf("--partition goes with --unclean")
			}
			return f.admin(func(ctx context.Context, c adminv1.AdminServiceClient) error {
				resp, err := c.ElectPreferredLeaders(ctx, &adminv1.ElectPreferredLeadersRequest{Topic: topic})
				if err != nil {
					return err
				}
				if f.json() {
					out := []electedJSON{}
					for _, e := range resp.GetElected() {
						out = append(out, electedJSON{e.GetTopic(), e.GetPartition(), e.GetLeader(), e.GetLeaderEpoch()})
					}
					return printJSON(f.out, map[string]any{"elected": out})
				}
				if len(resp.GetElected()) == 0 {
					fmt.Fprintln(f.out, "Every partition is led by its preferred replica, or that replica cannot lead now.")
					return nil
				}
				fmt.Fprintf(f.out, "Moved leadership of %d partitions to their preferred replica.\n", len(resp.GetElected()))
				w := table(f.out)
				fmt.Fprintln(w, "TOPIC\tPARTITION\tLEADER\tEPOCH")
				for _, e := range resp.GetElected() {
					fmt.Fprintf(w, "%s\t%d\t%d\t%d\n", e.GetTopic(), e.GetPartition(), e.GetLeader(), e.GetLeaderEpoch())
				}
				return w.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&topic, "topic", "", "only this topic (default: every topic)")
	cmd.Flags().BoolVar(&unclean, "unclean", false, "unclean election of a topic's partitions without a live leader: an out-of-sync replica may lead, losing acknowledged records")
	cmd.Flags().Int32SliceVar(&partitions, "partition", nil, "with --unclean: only these partitions (default: every partition of the topic)")
	return cmd
}

// electUnclean runs an unclean election of a topic's partitions (all of
// them when none is named) and prints each partition's outcome.
func (f *clientFlags) electUnclean(topic string, partitions []int32) error {
	if topic == "" {
		return fmt.Errorf("--unclean needs --topic: an unclean election may lose records, so name what it may touch")
	}
	return f.admin(func(ctx context.Context, c adminv1.AdminServiceClient) error {
		if len(partitions) == 0 {
			d, err := c.DescribeTopic(ctx, &adminv1.DescribeTopicRequest{Name: topic})
			if err != nil {
				return err
			}
			for p := range d.GetTopic().GetPartitionCount() {
				partitions = append(partitions, p)
			}
		}
		req := &adminv1.ElectLeadersRequest{Type: adminv1.ElectionType_ELECTION_TYPE_UNCLEAN}
		for _, p := range partitions {
			req.Partitions = append(req.Partitions, &adminv1.TopicPartition{Topic: topic, Partition: p})
		}
		resp, err := c.ElectLeaders(ctx, req)
		if err != nil {
			return err
		}
		type resultJSON struct {
			Topic       string `json:"topic"`
			Partition   int32  `json:"partition"`
			Leader      int32  `json:"leader"`
			LeaderEpoch int32  `json:"leader_epoch"`
			Error       string `json:"error,omitempty"`
		}
		var out []resultJSON
		for _, r := range resp.GetResults() {
			res := resultJSON{r.GetTopic(), r.GetPartition(), r.GetLeader(), r.GetLeaderEpoch(), ""}
			if e := r.GetError(); e != nil {
				res.Error = e.GetMessage()
			}
			out = append(out, res)
		}
		if f.json() {
			return printJSON(f.out, map[string]any{"results": out})
		}
		w := table(f.out)
		fmt.Fprintln(w, "TOPIC\tPARTITION\tLEADER\tEPOCH\tRESULT")
		for _, r := range out {
			result := "elected"
			if r.Error != "" {
				result = r.Error
			}
			fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%s\n", r.Topic, r.Partition, r.Leader, r.LeaderEpoch, result)
		}
		return w.Flush()
	})
}

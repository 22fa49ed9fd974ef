package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	strata "github.com/strata-io/strata/clients/go"
)

// Consumer group commands, as kafka-consumer-groups.sh and rpk group:
// list, describe (members and lag), delete and seek (reset offsets).

type groupListingJSON struct {
	Group        string `json:"group"`
	State        string `json:"state"`
	ProtocolType string `json:"protocol_type"`
}

type groupMemberJSON struct {
	MemberID   string             `json:"member_id"`
	InstanceID string             `json:"instance_id,omitempty"`
	ClientID   string             `json:"client_id"`
	ClientHost string             `json:"client_host"`
	Protocol   string             `json:"protocol"` // kafka or grpc: how the member consumes
	Assignment map[string][]int32 `json:"assignment"`
}

type groupPartitionJSON struct {
	Topic           string `json:"topic"`
	Partition       int32  `json:"partition"`
	CommittedOffset int64  `json:"committed_offset"`
	LogStartOffset  int64  `json:"log_start_offset"`
	LogEndOffset    int64  `json:"log_end_offset"`
	Lag             int64  `json:"lag"`
	Error           string `json:"error,omitempty"`
}

type groupJSON struct {
	Group        string               `json:"group"`
	State        string               `json:"state"`
	ProtocolType string               `json:"protocol_type"`
	Protocol     string               `json:"protocol"`
	Members      []groupMemberJSON    `json:"members"`
	Partitions   []groupPartitionJSON `json:"partitions"`
	TotalLag     int64                `json:"total_lag"`
}

type seekPlanJSON struct {
	Topic         string `json:"topic"`
	Partition     int32  `json:"partition"`
	CurrentOffset int64  `json:"current_offset"`
	NewOffset     int64  `json:"new_offset"`
	Error         string `json:"error,omitempty"`
}

type seekJSON struct {
	Group  string         `json:"group"`
	DryRun bool           `json:"dry_run"`
	Plan   []seekPlanJSON `json:"plan"`
}

// memberProtocol tells a Kafka member from a gRPC one: the Kafka listener
// records the client's host, the gRPC Consume stream does not.
func memberProtocol(m strata.GroupMember) string {
	if m.ClientHost == "" {
		return "grpc"
	}
	return "kafka"
}

func toGroupJSON(g *strata.Group) groupJSON {
	out := groupJSON{Group: g.ID, State: g.State, ProtocolType: g.ProtocolType, Protocol: g.Protocol,
		Members: []groupMemberJSON{}, Partitions: []groupPartitionJSON{}, TotalLag: g.TotalLag}
	for _, m := range g.Members {
		a := map[string][]int32{}
		for t, ps := range m.Assignment {
			ps = append([]int32(nil), ps...)
			sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
			a[t] = ps
		}
		out.Members = append(out.Members, groupMemberJSON{MemberID: m.MemberID, InstanceID: m.InstanceID, ClientID: m.ClientID,
			ClientHost: m.ClientHost, Protocol: memberProtocol(m), Assignment: a})
	}
	sort.Slice(out.Members, func(i, j int) bool { return out.Members[i].MemberID < out.Members[j].MemberID })
	for _, p := range g.Partitions {
		pj := groupPartitionJSON{Topic: p.Topic, Partition: p.Partition, CommittedOffset: p.CommittedOffset,
			LogStartOffset: p.LogStartOffset, LogEndOffset: p.LogEndOffset, Lag: p.Lag}
		if p.Err != nil {
			pj.Error = p.Err.Error()
		}
		out.Partitions = append(out.Partitions, pj)
	}
	sort.Slice(out.Partitions, func(i, j int) bool {
		a, b := out.Partitions[i], out.Partitions[j]
		return a.Topic < b.Topic || a.Topic == b.Topic && a.Partition < b.Partition
	})
	return out
}

// orDash renders an offset or lag, "-" when unknown (-1).
func orDash(v int64) string {
	if v < 0 {
		return "-"
	}
	return strconv.FormatInt(v, 10)
}

// formatAssignment renders topic → partitions as "a:0,1 b:2".
func formatAssignment(a map[string][]int32) string {
	if len(a) == 0 {
		return "-"
	}
	topics := make([]string, 0, len(a))
	for t := range a {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	parts := make([]string, len(topics))
	for i, t := range topics {
		parts[i] = t + ":" + joinInts(a[t])
	}
	return strings.Join(parts, " ")
}

func printGroup(out io.Writer, g groupJSON) error {
	protocol := g.ProtocolType
	if g.Protocol != "" {
		protocol += "/" + g.Protocol
	}
	if protocol == "" {
		protocol = "-"
	}
	fmt.Fprintf(out, "Group: %s  State: %s  Protocol: %s  Members: %d  Total lag: %d\n", g.Group, g.State, protocol, len(g.Members), g.TotalLag)
	w := table(out)
	if len(g.Members) > 0 {
		fmt.Fprintln(w, "\nMEMBER ID\tCLIENT ID\tHOST\tVIA\tASSIGNED")
		for _, m := range g.Members {
			host := m.ClientHost
			if host == "" {
				host = "-"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", m.MemberID, m.ClientID, host, m.Protocol, formatAssignment(m.Assignment))
		}
	}
	if len(g.Partitions) > 0 {
		fmt.Fprintln(w, "\nTOPIC\tPARTITION\tCOMMITTED\tLOG START\tLOG END\tLAG\tERROR")
		for _, p := range g.Partitions {
			e := p.Error
			if e == "" {
				e = "-"
			}
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", p.Topic, p.Partition, orDash(p.CommittedOffset),
				orDash(p.LogStartOffset), orDash(p.LogEndOffset), orDash(p.Lag), e)
		}
	}
	return w.Flush()
}

// seekFlags are group seek's target and scope.
type seekFlags struct {
	toEarliest, toLatest, allTopics, execute bool
	toOffset, shiftBy                        int64
	toDatetime                               string
	byDuration                               time.Duration
	topics                                   []string
}

func (s *seekFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.BoolVar(&s.toEarliest, "to-earliest", false, "to each partition's log start offset")
	fl.BoolVar(&s.toLatest, "to-latest", false, "to each partition's log end offset")
	fl.Int64Var(&s.toOffset, "to-offset", 0, "to this offset (clamped to the log)")
	fl.StringVar(&s.toDatetime, "to-datetime", "", "to the first record at or after this time (RFC 3339, or YYYY-MM-DDTHH:mm:SS local)")
	fl.DurationVar(&s.byDuration, "by-duration", 0, "to the first record at or after now minus this duration")
	fl.Int64Var(&s.shiftBy, "shift-by", 0, "move each offset by N (negative moves back), clamped to the log")
	fl.StringArrayVar(&s.topics, "topic", nil, "topic, or topic:p1,p2 for some partitions (repeatable)")
	fl.BoolVar(&s.allTopics, "all-topics", false, "every partition the group has committed offsets for")
	fl.BoolVar(&s.execute, "execute", false, "apply the plan (default: print it only)")
}

// parse checks the flags and returns the reset and the partitions it
// applies to (nil for every partition with a committed offset).
func (s *seekFlags) parse(cmd *cobra.Command) (strata.OffsetReset, map[string][]int32, error) {
	var r strata.OffsetReset
	var set []string
	for _, name := range []string{"to-earliest", "to-latest", "to-offset", "to-datetime", "by-duration", "shift-by"} {
		if cmd.Flags().Changed(name) {
			set = append(set, "--"+name)
		}
	}
	if len(set) != 1 {
		return r, nil, fmt.Errorf("give exactly one of --to-earliest, --to-latest, --to-offset, --to-datetime, --by-duration, --shift-by (got %d)", len(set))
	}
	switch set[0] {
	case "--to-earliest":
		r.ToEarliest = true
	case "--to-latest":
		r.ToLatest = true
	case "--to-offset":
		if s.toOffset < 0 {
			return r, nil, fmt.Errorf("--to-offset %d is negative", s.toOffset)
		}
		r.ToOffset = &s.toOffset
	case "--to-datetime":
		t, err := parseDatetime(s.toDatetime)
		if err != nil {
			return r, nil, err
		}
		r.ToTimestamp = t
	case "--by-duration":
		if s.byDuration <= 0 {
			return r, nil, fmt.Errorf("--by-duration %s must be positive (it moves back from now)", s.byDuration)
		}
		r.By = s.byDuration
	case "--shift-by":
		if s.shiftBy == 0 {
			return r, nil, fmt.Errorf("--shift-by 0 moves nothing")
		}
		r.ShiftBy = s.shiftBy
	}
	if s.allTopics == (len(s.topics) > 0) {
		return r, nil, fmt.Errorf("give --topic t[:p1,p2] (repeatable) or --all-topics")
	}
	if s.allTopics {
		return r, nil, nil
	}
	topics, err := parseTopicPartitions(s.topics)
	return r, topics, err
}

// parseDatetime accepts RFC 3339 and Kafka's YYYY-MM-DDTHH:mm:SS[.sss]
// (local time).
func parseDatetime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05.000", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--to-datetime %q is not a time such as 2026-11-30T10:00:00Z or 2026-11-30T10:00:00", s)
}

// parseTopicPartitions parses repeated "topic" or "topic:0,1,2".
func parseTopicPartitions(specs []string) (map[string][]int32, error) {
	out := map[string][]int32{}
	for _, spec := range specs {
		topic, parts, hasParts := strings.Cut(spec, ":")
		if topic == "" || (hasParts && parts == "") {
			return nil, fmt.Errorf("--topic %q is not topic or topic:p1,p2", spec)
		}
		if _, dup := out[topic]; dup {
			return nil, fmt.Errorf("--topic %s given twice", topic)
		}
		if !hasParts {
			out[topic] = nil
			continue
		}
		seen := map[int32]bool{}
		var ps []int32
		for _, p := range strings.Split(parts, ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 32)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("--topic %q: %q is not a partition number", spec, p)
			}
			if !seen[int32(n)] {
				seen[int32(n)] = true
				ps = append(ps, int32(n))
			}
		}
		out[topic] = ps
	}
	return out, nil
}

func toSeekJSON(group string, plan []strata.PlannedOffset, dryRun bool) seekJSON {
	out := seekJSON{Group: group, DryRun: dryRun, Plan: []seekPlanJSON{}}
	for _, p := range plan {
		pj := seekPlanJSON{Topic: p.Topic, Partition: p.Partition, CurrentOffset: p.CurrentOffset, NewOffset: p.NewOffset}
		if p.Err != nil {
			pj.Error = p.Err.Error()
		}
		out.Plan = append(out.Plan, pj)
	}
	sort.Slice(out.Plan, func(i, j int) bool {
		a, b := out.Plan[i], out.Plan[j]
		return a.Topic < b.Topic || a.Topic == b.Topic && a.Partition < b.Partition
	})
	return out
}

func printSeek(out io.Writer, s seekJSON) error {
	switch {
	case len(s.Plan) == 0:
		fmt.Fprintf(out, "Nothing to seek: group %s has no committed offsets on those partitions.\n", s.Group)
		return nil
	case s.DryRun:
		fmt.Fprintf(out, "Dry run: the plan for %d partitions of group %s, nothing changed; add --execute to apply it.\n", len(s.Plan), s.Group)
	default:
		fmt.Fprintf(out, "Moved %d partitions of group %s.\n", len(s.Plan), s.Group)
	}
	w := table(out)
	fmt.Fprintln(w, "TOPIC\tPARTITION\tCURRENT\tNEW\tERROR")
	for _, p := range s.Plan {
		e := p.Error
		if e == "" {
			e = "-"
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\n", p.Topic, p.Partition, orDash(p.CurrentOffset), orDash(p.NewOffset), e)
	}
	return w.Flush()
}

func newGroupCmd() *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{Use: "group", Short: "List, describe (members and lag), delete and seek consumer groups"}
	f.register(cmd)

	list := &cobra.Command{
		Use:     "list",
		Short:   "List consumer groups",
		Example: "  strata group list\n  strata group list --output json",
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return f.withClient(func(ctx context.Context, c *strata.Client) error {
				groups, err := c.Admin().ListGroups(ctx)
				if err != nil {
					return err
				}
				sort.Slice(groups, func(i, j int) bool { return groups[i].ID < groups[j].ID })
				if f.json() {
					out := []groupListingJSON{}
					for _, g := range groups {
						out = append(out, groupListingJSON{g.ID, g.State, g.ProtocolType})
					}
					return printJSON(f.out, out)
				}
				w := table(f.out)
				fmt.Fprintln(w, "GROUP\tSTATE\tPROTOCOL TYPE")
				for _, g := range groups {
					fmt.Fprintf(w, "%s\t%s\t%s\n", g.ID, g.State, g.ProtocolType)
				}
				return w.Flush()
			})
		},
	}

	describe := &cobra.Command{
		Use:     "describe GROUP",
		Short:   "Show a group's state, members and, per partition, committed offset, log start, log end and lag",
		Example: "  strata group describe orders-app\n  strata group describe orders-app --output json",
		Args:    cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return f.withClient(func(ctx context.Context, c *strata.Client) error {
				g, err := c.Admin().DescribeGroup(ctx, args[0])
				if err != nil {
					return err
				}
				if f.json() {
					return printJSON(f.out, toGroupJSON(g))
				}
				return printGroup(f.out, toGroupJSON(g))
			})
		},
	}

	del := &cobra.Command{
		Use:     "delete GROUP",
		Short:   "Delete a group without members, and its committed offsets",
		Example: "  strata group delete orders-app",
		Args:    cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return f.withClient(func(ctx context.Context, c *strata.Client) error {
				if err := c.Admin().DeleteGroup(ctx, args[0]); err != nil {
					if errors.Is(err, strata.ErrNonEmptyGroup) {
						return fmt.Errorf("group %s has active members: stop its consumers first", args[0])
					}
					return err
				}
				if f.json() {
					return printJSON(f.out, map[string]string{"deleted": args[0]})
				}
				fmt.Fprintf(f.out, "Deleted group %s.\n", args[0])
				return nil
			})
		},
	}

	var s seekFlags
	seek := &cobra.Command{
		Use:   "seek GROUP (--to-earliest | --to-latest | --to-offset N | --to-datetime T | --by-duration D | --shift-by N) (--topic t[:p1,p2]... | --all-topics) [--execute]",
		Short: "Reset a group's committed offsets (a dry run unless --execute); the group must have no active members",
		Example: "  strata group seek orders-app --to-earliest --topic orders\n" +
			"  strata group seek orders-app --shift-by -10 --topic orders:0,1 --execute\n" +
			"  strata group seek orders-app --to-datetime 2026-11-30T10:00:00Z --all-topics --execute\n" +
			"  strata group seek orders-app --by-duration 1h --all-topics",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			reset, topics, err := s.parse(cmd)
			if err != nil {
				return err
			}
			return f.withClient(func(ctx context.Context, c *strata.Client) error {
				plan, err := c.Admin().ResetOffsets(ctx, args[0], topics, reset, s.execute)
				if err != nil {
					if errors.Is(err, strata.ErrNonEmptyGroup) {
						return fmt.Errorf("group %s has active members: stop its consumers before seeking", args[0])
					}
					return err
				}
				out := toSeekJSON(args[0], plan, !s.execute)
				if f.json() {
					err = printJSON(f.out, out)
				} else {
					err = printSeek(f.out, out)
				}
				if err != nil {
					return err
				}
				failed := 0
				for _, p := range out.Plan {
					if p.Error != "" {
						failed++
					}
				}
				if failed > 0 {
					return fmt.Errorf("%d of %d partitions could not be planned (see ERROR)", failed, len(out.Plan))
				}
				return nil
			})
		},
	}
	s.register(seek)

	cmd.AddCommand(list, describe, del, seek)
	return cmd
}

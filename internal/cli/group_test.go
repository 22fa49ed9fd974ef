package cli

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	strata "github.com/strata-io/strata/clients/go"
)

func TestParseTopicPartitions(t *testing.T) {
	got, err := parseTopicPartitions([]string{"a", "b:2, 0,2", "c:1"})
	if err != nil || fmt.Sprint(got) != "map[a:[] b:[2 0] c:[1]]" || got["a"] != nil {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, bad := range [][]string{{""}, {":1"}, {"a:"}, {"a:x"}, {"a:-1"}, {"a:1,,2"}, {"a", "a:1"}, {"a:99999999999"}} {
		if _, err := parseTopicPartitions(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParseDatetime(t *testing.T) {
	if got, err := parseDatetime("2026-11-30T10:00:00Z"); err != nil || !got.Equal(time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("RFC 3339: %v, %v", got, err)
	}
	if got, err := parseDatetime("2026-11-30T10:00:00.250"); err != nil || !got.Equal(time.Date(2026, 11, 30, 10, 0, 0, 250e6, time.Local)) {
		t.Fatalf("Kafka's format: %v, %v", got, err)
	}
	for _, bad := range []string{"", "yesterday", "2026-13-01T00:00:00", "1700000000"} {
		if _, err := parseDatetime(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSeekFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // fmt of the reset and topics, or "error"
	}{
		{[]string{"--to-earliest", "--all-topics"}, "earliest map[]"},
		{[]string{"--to-offset", "0", "--topic", "t:1"}, "offset 0 map[t:[1]]"},
		{[]string{"--shift-by", "-3", "--topic", "t"}, "shift -3 map[t:[]]"},
		{[]string{"--by-duration", "90m", "--all-topics"}, "by 1h30m0s map[]"},
		{[]string{"--all-topics"}, "error"},
		{[]string{"--to-latest", "--to-earliest", "--all-topics"}, "error"},
		{[]string{"--to-latest"}, "error"},
		{[]string{"--to-offset", "-1", "--all-topics"}, "error"},
	} {
		var s seekFlags
		cmd := &cobra.Command{}
		s.register(cmd)
		if err := cmd.Flags().Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		var got string
		r, topics, err := s.parse(cmd)
		switch {
		case err != nil:
			got = "error"
		case r.ToEarliest:
			got = fmt.Sprint("earliest ", topics)
		case r.ToOffset != nil:
			got = fmt.Sprint("offset ", *r.ToOffset, " ", topics)
		case r.ShiftBy != 0:
			got = fmt.Sprint("shift ", r.ShiftBy, " ", topics)
		case r.By != 0:
			got = fmt.Sprint("by ", r.By, " ", topics)
		}
		if got != tc.want {
			t.Errorf("%v: got %q, want %q", tc.args, got, tc.want)
		}
	}
}

func TestPrintGroupAndSeek(t *testing.T) {
	g := &strata.Group{ID: "g", State: "Stable", ProtocolType: "consumer", Protocol: "range", TotalLag: 7,
		Members: []strata.GroupMember{
			{MemberID: "m2", ClientID: "rdkafka", ClientHost: "/127.0.0.1", Assignment: map[string][]int32{"t": {1, 0}}},
			{MemberID: "m1", ClientID: "strata-grpc", Assignment: map[string][]int32{"t": {2}}},
		},
		Partitions: []strata.PartitionLag{
			{Topic: "t", Partition: 1, CommittedOffset: 3, LogStartOffset: 0, LogEndOffset: 10, Lag: 7},
			{Topic: "t", Partition: 0, CommittedOffset: 5, LogStartOffset: -1, LogEndOffset: -1, Lag: -1, Err: fmt.Errorf("no leader")},
		}}
	var out bytes.Buffer
	if err := printGroup(&out, toGroupJSON(g)); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	if lines[0] != "Group: g  State: Stable  Protocol: consumer/range  Members: 2  Total lag: 7" ||
		!strings.HasPrefix(lines[3], "m1") || !strings.Contains(lines[3], " grpc ") || !strings.HasSuffix(lines[3], "t:2") ||
		!strings.Contains(lines[4], " kafka ") || !strings.HasSuffix(lines[4], "t:0,1") ||
		strings.Join(strings.Fields(lines[7]), " ") != "t 0 5 - - - no leader" || strings.Join(strings.Fields(lines[8]), " ") != "t 1 3 0 10 7 -" {
		t.Fatalf("describe output:\n%s", out.String())
	}
	out.Reset()
	plan := []strata.PlannedOffset{{Topic: "t", Partition: 1, CurrentOffset: 3, NewOffset: 0}, {Topic: "t", Partition: 0, CurrentOffset: -1, NewOffset: 0}}
	if err := printSeek(&out, toSeekJSON("g", plan, true)); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(out.String(), "\n"); !strings.HasPrefix(lines[0], "Dry run") ||
		strings.Join(strings.Fields(lines[2]), " ") != "t 0 - 0 -" || strings.Join(strings.Fields(lines[3]), " ") != "t 1 3 0 -" {
		t.Fatalf("seek output:\n%s", out.String())
	}
}

package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
)

func TestDescribeShowsOfflineReplicas(t *testing.T) {
	topic := &adminv1.Topic{Name: "t", PartitionCount: 2, ReplicationFactor: 3, Partitions: []*adminv1.Partition{
		{Partition: 0, Leader: 2, Replicas: []int32{1, 2, 3}, Isr: []int32{2, 3}, OfflineReplicas: []int32{1}, HighWatermark: -1, LogEndOffset: -1},
		{Partition: 1, Leader: 1, Replicas: []int32{1, 2, 3}, Isr: []int32{1, 2, 3}, HighWatermark: -1, LogEndOffset: -1},
	}}
	var out bytes.Buffer
	if err := printTopic(&out, topic); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	header, p0, p1 := strings.Fields(lines[1]), strings.Fields(lines[2]), strings.Fields(lines[3])
	if header[5] != "OFFLINE" || p0[5] != "1" || p1[5] != "-" {
		t.Fatalf("OFFLINE column wrong:\n%s", out.String())
	}
	b, err := json.Marshal(toTopicJSON(topic))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"offline_replicas":[1]`) || !strings.Contains(string(b), `"offline_replicas":[]`) {
		t.Fatalf("JSON lacks offline_replicas: %s", b)
	}
}

func TestParseAssignment(t *testing.T) {
	got, err := parseAssignment("3:1, 1:2 ,2", 4)
	if err != nil || len(got) != 3 || got[0].GetPartition() != 4 || got[2].GetPartition() != 6 ||
		fmt.Sprint(got[0].GetReplicas(), got[1].GetReplicas(), got[2].GetReplicas()) != "[3 1] [1 2] [2]" {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, bad := range []string{"1:x", "1,,2", "1:-2", "1:", "99999999999"} {
		if _, err := parseAssignment(bad, 0); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

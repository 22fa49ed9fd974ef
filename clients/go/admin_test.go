package strata_test

import (
	"context"
	"errors"
	"testing"
	"time"

	strata "github.com/strata-io/strata/clients/go"
)

func TestAdminTopicsAndConfigs(t *testing.T) {
	c := newClient(t, needDev(t))
	a := c.Admin()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	name := "admin-topics"
	created, err := a.CreateTopic(ctx, name, 2, 3, map[string]string{"retention.ms": "3600000"})
	if err != nil {
		t.Fatal(err)
	}
	if created.Partitions != 2 || created.ReplicationFactor != 3 || created.Configs["retention.ms"] != "3600000" {
		t.Fatalf("created %+v", created)
	}
	if _, err := a.CreateTopic(ctx, name, 2, 3, nil); !errors.Is(err, strata.ErrTopicExists) {
		t.Fatalf("create twice: %v, want ErrTopicExists", err)
	}
	if _, err := a.CreateTopic(ctx, "x", 1, 9, nil); !errors.Is(err, strata.ErrInvalidReplicationFactor) {
		t.Fatalf("RF 9 on 3 nodes: %v", err)
	}
	if _, err := a.CreateTopic(ctx, "y", 1, 1, map[string]string{"foo": "bar"}); !errors.Is(err, strata.ErrInvalidConfig) {
		t.Fatalf("unknown config: %v", err)
	}
	grown, err := a.AddPartitions(ctx, name, 4)
	if err != nil || grown.Partitions != 4 || len(grown.PartitionDetails) != 4 {
		t.Fatalf("add partitions: %+v, %v", grown, err)
	}
	cfgs, err := a.AlterTopicConfigs(ctx, name, map[string]string{"cleanup.policy": "compact"}, "retention.ms")
	if err != nil || cfgs["cleanup.policy"] != "compact" || cfgs["retention.ms"] != "" {
		t.Fatalf("alter configs: %v, %v", cfgs, err)
	}
	entries, err := a.DescribeTopicConfigs(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range entries {
		if e.Name == "cleanup.policy" {
			found = e.Value == "compact" && !e.Default
		}
	}
	if !found {
		t.Fatalf("cleanup.policy not set in %+v", entries)
	}
	topics, err := a.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	listed := false
	for _, tp := range topics {
		listed = listed || tp.Name == name
	}
	if !listed {
		t.Fatalf("%s not listed", name)
	}
	if err := a.DeleteTopic(ctx, name); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DescribeTopic(ctx, name); !errors.Is(err, strata.ErrUnknownTopic) {
		t.Fatalf("describe deleted topic: %v, want ErrUnknownTopic", err)
	}
}

func TestAdminGroups(t *testing.T) {
	c := newClient(t, needDev(t))
	a := c.Admin()
	topic := newTopic(t, c, 2, 1)
	counts := produceN(t, c, topic, 100)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	group := "admin-group"
	// A memberless commit, then lag.
	if err := a.CommitOffsets(ctx, group, map[string]map[int32]int64{topic: {0: 1, 1: 1}}); err != nil {
		t.Fatal(err)
	}
	g, err := a.DescribeGroup(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if want := counts[0] + counts[1] - 2; g.TotalLag != want || len(g.Partitions) != 2 {
		t.Fatalf("group %+v, want lag %d", g, want)
	}
	listed, err := a.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := false
	for _, l := range listed {
		seen = seen || l.ID == group
	}
	if !seen {
		t.Fatalf("%s not in %+v", group, listed)
	}
	plan, err := a.ResetOffsets(ctx, group, map[string][]int32{topic: nil}, strata.OffsetReset{ToLatest: true}, false)
	if err != nil || len(plan) != 2 {
		t.Fatalf("reset plan: %+v, %v", plan, err)
	}
	offs, _ := a.FetchOffsets(ctx, group, nil)
	for _, o := range offs {
		if o.Offset != 1 {
			t.Fatalf("a dry run changed offsets: %+v", offs)
		}
	}
	if _, err := a.ResetOffsets(ctx, group, map[string][]int32{topic: nil}, strata.OffsetReset{ToLatest: true}, true); err != nil {
		t.Fatal(err)
	}
	if g, err = a.DescribeGroup(ctx, group); err != nil || g.TotalLag != 0 {
		t.Fatalf("after reset to latest: %+v, %v", g, err)
	}
	if _, err := a.ResetOffsets(ctx, group, nil, strata.OffsetReset{}, false); !errors.Is(err, strata.ErrInvalidRequest) {
		t.Fatalf("reset without target: %v", err)
	}
	if err := a.DeleteOffsets(ctx, group, map[string][]int32{topic: {0}}); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteGroup(ctx, group); err != nil {
		t.Fatal(err)
	}
	switch g, err := a.DescribeGroup(ctx, group); {
	case err != nil && !errors.Is(err, strata.ErrGroupNotFound):
		t.Fatalf("describe deleted group: %v", err)
	case err == nil && len(g.Partitions) != 0:
		t.Fatalf("deleted group still has offsets: %+v", g)
	}
}

func TestReaderOffsetsAndTimestamps(t *testing.T) {
	c := newClient(t, needDev(t))
	topic := newTopic(t, c, 1, 1)
	p, err := c.NewProducer()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base := time.UnixMilli(1_700_000_000_000)
	var recs []*strata.Record
	for i := range 10 {
		recs = append(recs, &strata.Record{Topic: topic, Value: []byte{byte(i)}, Timestamp: base.Add(time.Duration(i) * time.Second)})
	}
	if err := p.ProduceSync(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	read := func(o strata.Offset) []*strata.Record {
		t.Helper()
		r, err := c.NewReader(map[string]map[int32]strata.Offset{topic: {0: o}}, strata.FetchMaxWait(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		fs, err := r.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return fs.Records()
	}
	if got := read(strata.AtTime(base.Add(7 * time.Second))); len(got) != 3 || got[0].Offset != 7 || !got[0].Timestamp.Equal(base.Add(7*time.Second)) {
		t.Fatalf("from time +7s: %d records, first %+v", len(got), got[0])
	}
	if got := read(strata.At(4)); len(got) != 6 || got[0].Offset != 4 {
		t.Fatalf("from offset 4: %d records", len(got))
	}
	// Past the end: the partition reports OFFSET_OUT_OF_RANGE and the
	// reader moves to its reset offset.
	r, err := c.NewReader(map[string]map[int32]strata.Offset{topic: {0: strata.At(1000)}}, strata.ResetOffset(strata.At(9)))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fs, err := r.Poll(ctx)
	if err != nil || len(fs) != 1 || !errors.Is(fs[0].Err, strata.ErrOffsetOutOfRange) {
		t.Fatalf("offset 1000: %+v, %v", fs, err)
	}
	if fs, err = r.Poll(ctx); err != nil || fs.NumRecords() != 1 || fs.Records()[0].Offset != 9 {
		t.Fatalf("after reset: %+v, %v", fs, err)
	}
	// A poll with nothing new waits for its context.
	short, scancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer scancel()
	if _, err := r.Poll(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("poll at the end: %v, want DeadlineExceeded", err)
	}
}

func TestAdminDescribeClusterDiskUsage(t *testing.T) {
	c := newClient(t, needDev(t))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topic := newTopic(t, c, 1, 3)
	cl, err := c.Admin().DescribeCluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cl.StorageNodes) != 3 {
		t.Fatalf("storage nodes %+v", cl.StorageNodes)
	}
	for _, n := range cl.StorageNodes {
		if !n.Alive || n.LogDir == "" || n.LogDirTotalBytes == 0 || n.LogDirFreeBytes > n.LogDirTotalBytes || n.OfflineReplicas != 0 {
			t.Errorf("node %+v: want alive with disk usage and no offline replicas", n)
		}
	}
	desc, err := c.Admin().DescribeTopic(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if p := desc.PartitionDetails[0]; len(p.OfflineReplicas) != 0 || len(p.ISR) != 3 {
		t.Fatalf("partition %+v: want 3 in sync, none offline", p)
	}
}

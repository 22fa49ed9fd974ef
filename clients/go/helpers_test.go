package strata_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	strata "github.com/strata-io/strata/clients/go"
)

// readAll reads every partition of topic from the start with a Reader
// until want records were read, keyed "partition/offset".
func readAll(t *testing.T, c *strata.Client, topic string, partitions int32, want int) map[string]*strata.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got, err := readAllErr(ctx, c, topic, partitions, want)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// readAllErr reads every partition of topic from the start until want
// records were read (or the partitions' ends are reached with more), keyed
// "partition/offset"; a record read twice is an error.
func readAllErr(ctx context.Context, c *strata.Client, topic string, partitions int32, want int) (map[string]*strata.Record, error) {
	starts := map[int32]strata.Offset{}
	for p := range partitions {
		starts[p] = strata.AtStart()
	}
	r, err := c.NewReader(map[string]map[int32]strata.Offset{topic: starts}, strata.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	got := map[string]*strata.Record{}
	for len(got) < want {
		fs, err := r.Poll(ctx)
		if err != nil {
			return got, fmt.Errorf("read %s: %d of %d records: %w", topic, len(got), want, err)
		}
		if errs := fs.Errors(); len(errs) > 0 {
			return got, fmt.Errorf("read %s: %w", topic, errs[0])
		}
		for _, rec := range fs.Records() {
			k := fmt.Sprintf("%d/%d", rec.Partition, rec.Offset)
			if _, dup := got[k]; dup {
				return got, fmt.Errorf("read %s twice", k)
			}
			got[k] = rec
		}
	}
	return got, nil
}

// checkExactlyOnce checks that n records with values "0".."n-1" were each
// acknowledged (acked: value → "partition/offset") and are each in the log
// once, at the offset their ack named ("/-1": a resend the leader no longer
// remembered the offset of). It returns how many were acknowledged
// without an offset.
func checkExactlyOnce(ctx context.Context, t *testing.T, c *strata.Client, topic string, partitions int32, n int, acked map[string]string, failed []error) int {
	t.Helper()
	if len(failed) > 0 {
		t.Fatalf("%d records failed, first: %v", len(failed), failed[0])
	}
	if len(acked) != n {
		t.Fatalf("%d distinct records acknowledged, want %d", len(acked), n)
	}
	desc, err := c.Admin().DescribeTopic(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, pd := range desc.PartitionDetails {
		total += int(pd.HighWatermark)
	}
	if total != n {
		t.Fatalf("%d records in the log, want %d: %d written twice", total, n, total-n)
	}
	got, err := readAllErr(ctx, c, topic, partitions, total)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range got {
		seen[string(r.Value)]++
	}
	for i := range n {
		if cnt := seen[strconv.Itoa(i)]; cnt != 1 {
			t.Fatalf("record %d is in the log %d times", i, cnt)
		}
	}
	unknown := 0
	for v, at := range acked {
		if strings.HasSuffix(at, "/-1") {
			unknown++
			continue
		}
		if r := got[at]; r == nil || string(r.Value) != v {
			t.Fatalf("record %s acknowledged at %s, which holds %v", v, at, r)
		}
	}
	return unknown
}

package strata_test

import (
	"context"
	"fmt"
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

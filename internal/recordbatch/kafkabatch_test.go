package recordbatch

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/strata-io/strata/api/kafkabatch"
	"github.com/strata-io/strata/internal/codec"
)

// The clients' batch encoder (api/kafkabatch) writes, byte for byte, the
// batch the server's builder writes for the same records, and the server
// accepts it as a producer's.
func TestClientBatchEncoderMatchesBuild(t *testing.T) {
	for _, n := range []int{1, 2, 7, 300} {
		var w kafkabatch.Builder
		w.Reset(nil)
		recs := make([]BuildRecord, n)
		for i := range recs {
			r := BuildRecord{Value: bytes.Repeat([]byte{byte(i)}, i%200), Timestamp: 1_700_000_000_000 + int64(i*7%5) - 2}
			var hs []kafkabatch.Header
			switch i % 4 {
			case 0:
				r.Key = []byte(fmt.Sprintf("key-%d", i))
			case 1:
				r.Value = nil // a tombstone
			case 2:
				r.Headers = []RecordHeader{{Key: []byte("h"), Value: []byte("v")}, {Key: []byte("empty"), Value: nil}}
				hs = []kafkabatch.Header{{Key: "h", Value: []byte("v")}, {Key: "empty"}}
			}
			recs[i] = r
			w.Add(r.Key, r.Value, r.Timestamp, hs)
		}
		opts := ProducerOptions(codec.None)
		opts.PartitionLeaderEpoch = -1
		want, err := Build(opts, recs)
		if err != nil {
			t.Fatal(err)
		}
		got := w.Finish()
		if !bytes.Equal(got, want) {
			t.Fatalf("%d records: client encoder wrote %d bytes, the builder %d; they differ", n, len(got), len(want))
		}
		if _, err := ValidateProducer(got, 1<<20); err != nil {
			t.Fatalf("%d records: %v", n, err)
		}
		if w.Records() != n || w.Len() != len(got) {
			t.Fatalf("Records %d Len %d, want %d and %d", w.Records(), w.Len(), n, len(got))
		}
	}
}

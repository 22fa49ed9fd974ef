package recordbatch

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/strata-io/strata/internal/codec"
)

// benchBatch is a producer batch of about 16 KiB of records (before
// compression): 128 records with 16-byte keys and 112-byte values of
// loosely repetitive text, so codecs compress it about as much as logs.
func benchBatch(b *testing.B, c codec.Codec) []byte {
	b.Helper()
	rng := rand.New(rand.NewSource(1))
	words := []string{"user", "order", "created", "shipped", "id", "eu-west", "ok", "timeout", "retry", "cart"}
	recs := make([]BuildRecord, 128)
	for i := range recs {
		v := make([]byte, 0, 112)
		for len(v) < 112 {
			v = append(v, words[rng.Intn(len(words))]...)
			v = append(v, ' ', byte('0'+rng.Intn(10)))
		}
		recs[i] = BuildRecord{Key: []byte(fmt.Sprintf("key-%012d", rng.Int63n(1e12))), Value: v[:112], Timestamp: 1_700_000_000_000 + int64(i)}
	}
	out, err := Build(ProducerOptions(c), recs)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// BenchmarkValidateProducer measures the produce-path check of a 16 KiB
// batch per codec: "header" is what the append path did before whole-batch
// validation (shape and CRC only, records of compressed batches unread),
// "whole" is ValidateProducer (decompress and check every record).
func BenchmarkValidateProducer(b *testing.B) {
	for _, c := range codecs {
		batch := benchBatch(b, c)
		b.Run(c.String()+"/header", func(b *testing.B) {
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := Validate(batch); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.String()+"/whole", func(b *testing.B) {
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := ValidateProducer(batch, 64<<20); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBuild encodes 500 records of 1 KiB into one uncompressed batch
// (the gateway's gRPC produce path).
func BenchmarkBuild(b *testing.B) {
	recs := make([]BuildRecord, 500)
	for i := range recs {
		recs[i] = BuildRecord{Value: make([]byte, 1024), Timestamp: int64(i)}
	}
	b.SetBytes(500 * 1024)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Build(ProducerOptions(codec.None), recs); err != nil {
			b.Fatal(err)
		}
	}
}

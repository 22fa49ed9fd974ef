package cli

import (
	"fmt"

	strata "github.com/strata-io/strata/clients/go"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The producer flags produce and perf share: --acks and --compression,
// and what they mean to franz-go for --protocol kafka.

// parseAcks reads --acks: all (or -1), 1 or 0.
func parseAcks(s string) (strata.Acks, error) {
	switch s {
	case "all", "-1":
		return strata.AcksAll, nil
	case "1":
		return strata.AcksLeader, nil
	case "0":
		return strata.AcksNone, nil
	}
	return 0, fmt.Errorf("--acks must be 0, 1 or all, not %q", s)
}

var compressions = map[string]strata.Compression{"none": strata.CompressionNone, "gzip": strata.CompressionGzip,
	"snappy": strata.CompressionSnappy, "lz4": strata.CompressionLZ4, "zstd": strata.CompressionZstd}

// parseCompression reads --compression.
func parseCompression(s string) (strata.Compression, error) {
	c, ok := compressions[s]
	if !ok {
		return 0, fmt.Errorf("--compression must be none, gzip, snappy, lz4 or zstd, not %q", s)
	}
	return c, nil
}

func kafkaCompression(c strata.Compression) kgo.CompressionCodec {
	switch c {
	case strata.CompressionGzip:
		return kgo.GzipCompression()
	case strata.CompressionSnappy:
		return kgo.SnappyCompression()
	case strata.CompressionLZ4:
		return kgo.Lz4Compression()
	case strata.CompressionZstd:
		return kgo.ZstdCompression()
	}
	return kgo.NoCompression()
}

// kafkaAcks is a's franz-go option; idempotence needs acks=all.
func kafkaAcks(a strata.Acks) []kgo.Opt {
	switch a {
	case strata.AcksLeader:
		return []kgo.Opt{kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite()}
	case strata.AcksNone:
		return []kgo.Opt{kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite()}
	}
	return []kgo.Opt{kgo.RequiredAcks(kgo.AllISRAcks())}
}

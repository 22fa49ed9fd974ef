package strata

import (
	"time"

	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
)

// Acks is how many replicas must hold a record before it is acknowledged.
type Acks int

const (
	// AcksAll (the default) waits for every in-sync replica, at least the
	// topic's min.insync.replicas (Kafka acks=all). The only setting that
	// allows idempotence.
	AcksAll Acks = iota
	// AcksLeader waits for the partition leader's append (Kafka acks=1).
	AcksLeader
	// AcksNone does not wait for the leader (Kafka acks=0): offsets are -1
	// and failures of the append are not reported.
	AcksNone
)

func (a Acks) proto() streamv1.Acks {
	switch a {
	case AcksLeader:
		return streamv1.Acks_ACKS_LEADER
	case AcksNone:
		return streamv1.Acks_ACKS_NONE
	}
	return streamv1.Acks_ACKS_ALL
}

// Compression is the codec of the record batches the gateway writes for the
// producer; they stay compressed on disk and are served so to Kafka
// consumers.
type Compression int

// The codecs.
const (
	CompressionNone Compression = iota
	CompressionGzip
	CompressionSnappy
	CompressionLZ4
	CompressionZstd
)

func (c Compression) proto() streamv1.Compression {
	switch c {
	case CompressionGzip:
		return streamv1.Compression_COMPRESSION_GZIP
	case CompressionSnappy:
		return streamv1.Compression_COMPRESSION_SNAPPY
	case CompressionLZ4:
		return streamv1.Compression_COMPRESSION_LZ4
	case CompressionZstd:
		return streamv1.Compression_COMPRESSION_ZSTD
	}
	return streamv1.Compression_COMPRESSION_NONE
}

// Limits and defaults of the producer.
const (
	// DefaultLinger is how long a record waits for more to share its
	// request (Kafka's linger.ms default since 4.0).
	DefaultLinger = 5 * time.Millisecond
	// DefaultMaxBatchBytes bounds the record bytes of one request.
	DefaultMaxBatchBytes = 1 << 20
	// maxRequestRecords is the server's cap on the records of a request.
	maxRequestRecords = 10000
	// DefaultMaxBufferedRecords bounds the records produced and not yet
	// acknowledged.
	DefaultMaxBufferedRecords = 100000
	// DefaultMaxBufferedBytes bounds their bytes.
	DefaultMaxBufferedBytes = 256 << 20
	// DefaultMaxInFlightBytes bounds the bytes sent and not yet
	// acknowledged on one session (the gateway's own budget may be lower).
	DefaultMaxInFlightBytes = 64 << 20
	// DefaultDeliveryTimeout bounds how long a record may wait for its
	// acknowledgement, reconnects included (Kafka's delivery.timeout.ms).
	DefaultDeliveryTimeout = 2 * time.Minute
	// DefaultUnknownTopicRetries is how many times in a row a topic may be
	// unknown before its records fail (franz-go's default).
	DefaultUnknownTopicRetries = 4
)

// ProducerOpt configures a [Producer]; pass it to [Client.NewProducer].
type ProducerOpt interface{ applyProducer(*producerConfig) }

type producerOpt func(*producerConfig)

func (o producerOpt) applyProducer(c *producerConfig) { o(c) }

type producerConfig struct {
	linger             time.Duration
	maxBatchBytes      int
	maxBufferedRecords int
	maxBufferedBytes   int64
	maxInFlightBytes   int64
	acks               Acks
	idempotent         bool
	compression        Compression
	deliveryTimeout    time.Duration
	requestTimeout     time.Duration
	partitioner        Partitioner
	unknownRetries     int
}

func defaultProducerConfig() producerConfig {
	return producerConfig{
		linger:             DefaultLinger,
		maxBatchBytes:      DefaultMaxBatchBytes,
		maxBufferedRecords: DefaultMaxBufferedRecords,
		maxBufferedBytes:   DefaultMaxBufferedBytes,
		maxInFlightBytes:   DefaultMaxInFlightBytes,
		acks:               AcksAll,
		idempotent:         true,
		deliveryTimeout:    DefaultDeliveryTimeout,
		partitioner:        KafkaPartitioner(),
		unknownRetries:     DefaultUnknownTopicRetries,
	}
}

// Linger sets how long a record may wait for others to share its request
// (default [DefaultLinger]); 0 sends as soon as the session's in-flight
// budget allows, which still batches under load. Flush and ProduceSync cut
// the wait short.
func Linger(d time.Duration) ProducerOpt {
	return producerOpt(func(c *producerConfig) { c.linger = max(d, 0) })
}

// MaxBatchBytes bounds the record bytes of one ProduceStream request
// (default [DefaultMaxBatchBytes], at most 64 MiB); a request also holds at
// most 10,000 records. A larger record is refused with ErrInvalidRecord.
func MaxBatchBytes(n int) ProducerOpt {
	return producerOpt(func(c *producerConfig) {
		if n > 0 {
			c.maxBatchBytes = min(n, 64<<20)
		}
	})
}

// MaxBufferedRecords bounds the records produced and not yet acknowledged
// (default [DefaultMaxBufferedRecords]). Past it Produce blocks and
// TryProduce fails with ErrMaxBuffered.
func MaxBufferedRecords(n int) ProducerOpt {
	return producerOpt(func(c *producerConfig) {
		if n > 0 {
			c.maxBufferedRecords = n
		}
	})
}

// MaxBufferedBytes bounds the bytes of the records produced and not yet
// acknowledged (default [DefaultMaxBufferedBytes]); as MaxBufferedRecords.
func MaxBufferedBytes(n int64) ProducerOpt {
	return producerOpt(func(c *producerConfig) {
		if n > 0 {
			c.maxBufferedBytes = n
		}
	})
}

// MaxInFlightBytes bounds the bytes of requests sent and not yet
// acknowledged per session (default [DefaultMaxInFlightBytes]); the
// producer keeps within the gateway's own budget too, so the gateway never
// throttles it.
func MaxInFlightBytes(n int64) ProducerOpt {
	return producerOpt(func(c *producerConfig) {
		if n > 0 {
			c.maxInFlightBytes = n
		}
	})
}

// RequiredAcks sets the acks (default [AcksAll]). Idempotence needs
// AcksAll, so other acks turn it off.
func RequiredAcks(a Acks) ProducerOpt {
	return producerOpt(func(c *producerConfig) { c.acks = a })
}

// DisableIdempotence turns the sessions' idempotence off: a batch the
// gateway resends after an unknown outcome may then be written twice.
func DisableIdempotence() ProducerOpt {
	return producerOpt(func(c *producerConfig) { c.idempotent = false })
}

// ProducerCompression sets the codec of the batches (default none).
func ProducerCompression(codec Compression) ProducerOpt {
	return producerOpt(func(c *producerConfig) { c.compression = codec })
}

// DeliveryTimeout bounds how long a record may take from Produce to its
// acknowledgement, reconnects included (default [DefaultDeliveryTimeout]).
// A record past it fails with ErrDeliveryTimeout.
func DeliveryTimeout(d time.Duration) ProducerOpt {
	return producerOpt(func(c *producerConfig) {
		if d > 0 {
			c.deliveryTimeout = d
		}
	})
}

// ProduceRequestTimeout is how long the gateway waits for the in-sync
// replicas (and keeps resending a batch whose outcome it could not learn)
// before it fails a request's records with REQUEST_TIMED_OUT; unset is the
// gateway's default (30s), at most 5m.
func ProduceRequestTimeout(d time.Duration) ProducerOpt {
	return producerOpt(func(c *producerConfig) {
		if d > 0 {
			c.requestTimeout = min(d, 5*time.Minute)
		}
	})
}

// WithPartitioner sets the partitioner (default [KafkaPartitioner]).
func WithPartitioner(p Partitioner) ProducerOpt {
	return producerOpt(func(c *producerConfig) {
		if p != nil {
			c.partitioner = p
		}
	})
}

// UnknownTopicRetries sets how many times in a row (with backoff) the
// producer looks a topic up and finds it missing before it fails the
// topic's records with ErrUnknownTopic (default
// [DefaultUnknownTopicRetries]); a topic just created may take a moment to
// reach every gateway. -1 retries until the delivery timeout.
func UnknownTopicRetries(n int) ProducerOpt {
	return producerOpt(func(c *producerConfig) { c.unknownRetries = n })
}

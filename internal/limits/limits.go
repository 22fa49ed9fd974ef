// Package limits is every resource limit that holds against hostile input,
// in one place: each with the Kafka setting it matches (if any), its default
// and why. The roles read their defaults from here; flags override the ones
// an operator may need to tune. docs/security.md ("Limits") lists them.
package limits

import "time"

// Kafka listener (services/gateway/kafka).
const (
	// MaxRequestBytes is socket.request.max.bytes (Kafka: 100 MiB): the
	// largest request frame. Only Produce may come near it.
	MaxRequestBytes = 100 << 20
	// MaxNonProduceRequestBytes caps every request other than Produce
	// (no Kafka setting): they are small, and the cap bounds what their
	// decoders may allocate (8× the frame, see third_party/kmsg).
	MaxNonProduceRequestBytes = 8 << 20
	// MaxConnections is max.connections (Kafka: unlimited): connections
	// past it are closed at accept. 10,000 idle connections cost ~100 MiB
	// (two goroutines each).
	MaxConnections = 10_000
	// MaxConnectionsPerIP is max.connections.per.ip (Kafka: unlimited):
	// one host cannot take every slot. High enough for a NATed fleet.
	MaxConnectionsPerIP = 1_000
	// QueuedMaxRequestBytes is queued.max.request.bytes (Kafka: -1, no
	// limit): the request bytes all connections of a gateway may hold in
	// memory, read and not yet answered. A connection whose next request
	// does not fit stops reading until it does (TCP pushes back on the
	// client); it is never closed for it. At least MaxRequestBytes.
	QueuedMaxRequestBytes = 512 << 20
	// FetchReadAheadBytes bounds a gateway's Kafka fetches read ahead for
	// consumers with a backlog (a few consumers' worth of 1 MiB
	// partitions), held until the next fetch takes them.
	FetchReadAheadBytes = 64 << 20
	// MaxInFlightRequests bounds the requests of one connection read and
	// not yet answered (Kafka's clients send at most 5).
	MaxInFlightRequests = 32
	// MaxInFlightBytes bounds the request bytes of one connection read and
	// not yet answered: reading pauses while they are at or over it (one
	// request of any legal size always fits).
	MaxInFlightBytes = 64 << 20
	// ReadChunk is how much of a frame is allocated ahead of the bytes
	// received: a client that sends a 100 MiB size and stalls holds 1 MiB.
	ReadChunk = 1 << 20
	// RequestReadGrace and MinRequestReadRate bound how long one request
	// frame may take to arrive once its size is read (no Kafka setting):
	// the grace plus its size at the rate, 2 m 10 s for 100 MiB. A frame
	// holds its share of QueuedMaxRequestBytes while it arrives, so a
	// client that sends a size and stalls cannot hold it for long.
	RequestReadGrace   = 30 * time.Second
	MinRequestReadRate = 1 << 20 // bytes per second
	// IdleTimeout is connections.max.idle.ms (Kafka: 10 minutes); it is
	// also how long a half-sent frame may stall.
	IdleTimeout = 10 * time.Minute
	// FetchMaxBytes is fetch.max.bytes (Kafka: 55 MiB): a Fetch's
	// max_bytes is clamped to it.
	FetchMaxBytes = 55 << 20
	// MaxPartitionFetchBytes bounds a Fetch's partition_max_bytes (Kafka
	// clamps it by message.max.bytes and fetch.max.bytes): no more than a
	// whole fetch.
	MaxPartitionFetchBytes = FetchMaxBytes
)

// gRPC servers and clients (internal/rpc).
const (
	// GRPCMaxMessageBytes is the largest gRPC message, both ways: a whole
	// Produce or Fetch of MaxRequestBytes of records plus framing.
	GRPCMaxMessageBytes = MaxRequestBytes + 1<<20
	// ControllerMaxRecvBytes is the largest message a controller accepts:
	// its requests are metadata, group and offset calls, whose Kafka
	// forms are capped at MaxNonProduceRequestBytes (8 MiB). Its answers
	// (metadata snapshots) may be up to GRPCMaxMessageBytes.
	ControllerMaxRecvBytes = 2 * MaxNonProduceRequestBytes
	// GRPCMaxConcurrentStreams bounds the streams of one client
	// connection to the public gRPC API (gRPC: unlimited): a peer cannot
	// open millions. Calls past it wait on the client for a free stream.
	GRPCMaxConcurrentStreams = 1_000
	// GRPCInternalMaxConcurrentStreams is the same for the internal
	// servers of storage nodes and controllers: one gateway connection
	// carries a long-poll fetch per Kafka connection it serves, up to
	// MaxConnections of them.
	GRPCInternalMaxConcurrentStreams = 2 * MaxConnections
	// GRPCKeepaliveMinTime is the shortest client keepalive ping interval
	// a server accepts; a peer pinging faster is disconnected
	// (ENHANCE_YOUR_CALM), so pings cannot burn CPU. Strata's clients ping
	// every 10 s.
	GRPCKeepaliveMinTime = 5 * time.Second
	// GRPCKeepaliveTime and GRPCKeepaliveTimeout: a server pings a
	// connection idle this long and closes it if the ping is not answered
	// in time, so dead peers do not hold streams.
	GRPCKeepaliveTime    = time.Minute
	GRPCKeepaliveTimeout = 20 * time.Second
	// GRPCStreamWindowBytes and GRPCConnWindowBytes are the HTTP/2
	// receive windows Strata's gRPC clients announce, a stream's and the
	// connection's: what a server may send before the client reads it.
	// gRPC's default (64 KiB, grown by ping-timed estimates) stalls a
	// stream of large answers (a Consume stream, long-poll fetches) every
	// few frames while it grows. What a server sends is bounded anyway by
	// the request (a fetch's max bytes, a stream's credit).
	GRPCStreamWindowBytes = 16 << 20
	GRPCConnWindowBytes   = 32 << 20
)

// Group coordinator (services/controller/groups).
const (
	// OffsetsRetention is offsets.retention.minutes (Kafka: 7 days): the
	// committed offsets of a group that has been Empty this long are
	// deleted, and with them the group.
	OffsetsRetention = 7 * 24 * time.Hour
	// MaxGroups bounds the groups a cluster keeps (no Kafka setting; Kafka
	// bounds them only by retention): group ids are client input, and
	// every group is etcd keys. Past it, a JoinGroup or OffsetCommit that
	// would create a group gets COORDINATOR_NOT_AVAILABLE (clients retry)
	// until retention deletes some.
	MaxGroups = 100_000
	// MaxGroupMembers is group.max.size (Kafka: unlimited in effect,
	// Integer.MAX_VALUE): members past it are refused with
	// GROUP_MAX_SIZE_REACHED.
	MaxGroupMembers = 1_000
)

// Idempotent producer state (services/storage).
const (
	// ProducerIDExpiration is producer.id.expiration.ms (Kafka: 1 day): a
	// producer that wrote nothing to a partition for this long is
	// forgotten there, so producer ids (client input: a batch may carry
	// any) cannot pile up while the data they wrote is retained.
	ProducerIDExpiration = 24 * time.Hour
)

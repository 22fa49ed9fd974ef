// Package strata is the Go client of Strata, a Kafka-compatible event log.
// It speaks Strata's public gRPC API (strata.stream.v1.StreamService,
// strata.stream.v1.GroupService and strata.admin.v1.AdminService) and needs
// no Kafka library and nothing of the server.
//
// One [Client] holds one gRPC connection to a gateway (or a load balancer in
// front of several) and hands out:
//
//   - a [Producer]: asynchronous [Producer.Produce] with a promise per
//     record, called in order per partition; [Producer.ProduceSync];
//     batching with linger and size limits; a bounded buffer; Kafka's
//     murmur2 partitioner. It writes over ProduceStream sessions, which are
//     idempotent, and reconnects on its own.
//   - a [Consumer]: a member of a consumer group over Consume, the same
//     groups Kafka clients join, with [Consumer.Poll], marked and automatic
//     commits, assignment callbacks and pause/resume.
//   - a [Reader]: group-less reads of explicit partitions from an offset, a
//     log end or a timestamp, over Fetch.
//   - an [Admin]: topics, configs, the cluster, consumer groups and
//     offsets.
//
// Errors are typed: every failure the server reports is an [*Error] with
// its Strata code, Kafka code and details, matched with errors.Is against
// the sentinels ([ErrNotLeader], [ErrUnknownTopic], ...) and classified by
// [IsRetriable]. Calls take a context and honour its deadline; retriable
// failures of idempotent calls are retried with exponential backoff and
// jitter.
//
// Delivery guarantees of the producer, the consumer's commit rules and how
// both behave on failures are in docs/clients-go.md of the repository.
package strata

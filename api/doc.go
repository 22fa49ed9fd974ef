// Package api holds the Go code generated from Strata's public protos
// (strata.stream.v1, strata.admin.v1, strata.common.v1), and kafkakey,
// Kafka's key partitioner, which clients and the gateway share; its own
// module so that clients/go and any other client import it without the
// server.
// `make generate` writes it; do not edit the generated files.
package api

// Command produce writes records to a Strata topic with the Go client:
// asynchronously with a promise per record, then flushes.
//
//	go run ./examples/produce -server localhost:9191 -topic orders -n 1000
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"sync/atomic"
	"time"

	strata "github.com/strata-io/strata/clients/go"
)

func main() {
	server := flag.String("server", "localhost:9191", "gateway gRPC address")
	topic := flag.String("topic", "orders", "topic to write to")
	n := flag.Int("n", 1000, "records to write")
	flag.Parse()
	if err := run(*server, *topic, *n); err != nil {
		fmt.Fprintln(os.Stderr, "produce:", err)
		os.Exit(1)
	}
}

func run(server, topic string, n int) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, err := strata.NewClient(ctx, server)
	if err != nil {
		return err
	}
	defer client.Close()
	producer, err := client.NewProducer(strata.ProducerCompression(strata.CompressionZstd))
	if err != nil {
		return err
	}
	defer producer.Close()

	var ok, failed atomic.Int64
	for i := range n {
		r := &strata.Record{Topic: topic, Key: fmt.Appendf(nil, "customer-%d", i%10), Value: fmt.Appendf(nil, "order %d", i)}
		producer.Produce(ctx, r, func(r *strata.Record, err error) {
			if err != nil {
				failed.Add(1)
				log.Printf("record %s: %v", r.Value, err)
				return
			}
			ok.Add(1)
		})
	}
	if err := producer.Flush(ctx); err != nil {
		return err
	}
	fmt.Printf("wrote %d records to %s (%d failed)\n", ok.Load(), topic, failed.Load())
	if failed.Load() > 0 {
		return fmt.Errorf("%d records failed", failed.Load())
	}
	return nil
}

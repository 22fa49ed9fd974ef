// Command consume reads a topic as a member of a consumer group with the Go
// client, committing what it processed, until it has read -n records or
// -idle passes without any.
//
//	go run ./examples/consume -server localhost:9191 -group billing -topic orders -n 1000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	strata "github.com/strata-io/strata/clients/go"
)

func main() {
	server := flag.String("server", "localhost:9191", "gateway gRPC address")
	group := flag.String("group", "billing", "consumer group")
	topic := flag.String("topic", "orders", "topic to consume")
	n := flag.Int("n", 0, "stop after this many records (0: run until -idle)")
	idle := flag.Duration("idle", 10*time.Second, "stop after this long without records")
	flag.Parse()
	if err := run(*server, *group, *topic, *n, *idle); err != nil {
		fmt.Fprintln(os.Stderr, "consume:", err)
		os.Exit(1)
	}
}

func run(server, group, topic string, n int, idle time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, err := strata.NewClient(ctx, server)
	if err != nil {
		return err
	}
	defer client.Close()
	consumer, err := client.NewConsumer(group, []string{topic},
		strata.ConsumeStartOffset(strata.AtStart()),
		strata.OnAssigned(func(_ context.Context, assigned map[string][]int32) {
			fmt.Fprintf(os.Stderr, "assigned %v\n", assigned)
		}))
	if err != nil {
		return err
	}
	read := 0
	for n == 0 || read < n {
		pctx, pcancel := context.WithTimeout(context.Background(), idle)
		fetches, err := consumer.Poll(pctx)
		pcancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			return err
		}
		for _, p := range fetches {
			read += len(p.Records)
		}
		// Processing done: commit it now rather than waiting for the
		// auto-commit interval.
		consumer.MarkCommit(fetches.Records()...)
		if err := consumer.CommitSync(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "commit:", err)
		}
	}
	if err := consumer.Close(ctx); err != nil {
		return err
	}
	fmt.Printf("read %d records of %s in group %s\n", read, topic, group)
	return nil
}

package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	strata "github.com/strata-io/strata/clients/go"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkClientVsKafka measures, against one `strata dev` and over
// several rounds, producing 100,000 records of 1 KiB with the Go client's
// Producer (clients/go, over ProduceStream) beside franz-go over the Kafka
// protocol, RF=1 acks=leader and RF=3 acks=all (idempotent), then reads
// the RF=3 records back with a clients/go group Consumer beside a franz-go
// group consumer. Run with `make bench-client`.
func BenchmarkClientVsKafka(b *testing.B) {
	kafka, grpcAddr := startKafkaDev(b)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	client, err := strata.NewClient(ctx, grpcAddr)
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	const records, size, rounds = 100_000, 1024, 3
	value := make([]byte, size)
	_, _ = rand.Read(value)
	type mode struct {
		name  string
		rf    int16
		kacks kgo.Acks
		sacks strata.Acks
	}
	modes := []mode{{"RF=1 acks=leader", 1, kgo.LeaderAck(), strata.AcksLeader}, {"RF=3 acks=all", 3, kgo.AllISRAcks(), strata.AcksAll}}
	for range b.N {
		fmt.Printf("\n%-17s %-6s %14s %16s %10s\n", "mode", "round", "franz-go MB/s", "clients/go MB/s", "client/kafka")
		for _, m := range modes {
			topic := fmt.Sprintf("client-bench-%d", m.rf)
			if err := benchTopic(kafka, topic, m.rf); err != nil {
				b.Fatal(err)
			}
			for r := range rounds {
				// Each round runs franz-go, clients/go, clients/go,
				// franz-go on half the records each, so neither meets the
				// log (or the machine) as the other left it more often.
				rates, err := balanced(records,
					func(n int) (float64, error) { return kafkaProduce(kafka, topic, m.kacks, n, value) },
					func(n int) (float64, error) { return clientProduce(ctx, client, topic, m.sacks, n, value) })
				if err != nil {
					b.Fatal(err)
				}
				k, g := rates[0], rates[1]
				fmt.Printf("%-17s %-6d %14.1f %16.1f %10.2f\n", m.name, r+1, k*size/1e6, g*size/1e6, g/k)
			}
		}
		// Consume what the RF=3 rounds wrote (2 × records per round).
		fmt.Printf("\n%-17s %-6s %14s %16s %10s\n", "consume 1 KiB", "round", "franz-go MB/s", "clients/go MB/s", "client/kafka")
		for r := range rounds {
			n := 2 * rounds * records
			var k, g float64
			err := inTurn(r, func() (err error) {
				k, err = kafkaConsume(kafka, "client-bench-3", fmt.Sprint("client-bench-kafka-", r), n)
				return err
			}, func() (err error) {
				g, err = clientConsume(ctx, client, "client-bench-3", fmt.Sprint("client-bench-go-", r), n)
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			fmt.Printf("%-17s %-6d %14.1f %16.1f %10.2f\n", "RF=3 group", r+1, k*size/1e6, g*size/1e6, g/k)
		}
	}
}

// clientConsume reads n records of topic with a clients/go group Consumer
// from the start and returns records/s, timed from the first record as
// kafkaConsume is, with the default buffer (50 MiB, as the fetch
// kafkaConsume gives franz-go).
func clientConsume(ctx context.Context, c *strata.Client, topic, group string, n int) (float64, error) {
	k, err := c.NewConsumer(group, []string{topic}, strata.ConsumeStartOffset(strata.AtStart()), strata.DisableAutoCommit())
	if err != nil {
		return 0, err
	}
	defer k.Close(ctx)
	got := 0
	var start time.Time
	for got < n {
		fs, err := k.Poll(ctx)
		if err != nil {
			return 0, err
		}
		if got == 0 && fs.NumRecords() > 0 {
			start = time.Now() // from the first record: joining is not reading
		}
		got += fs.NumRecords()
	}
	return float64(got) / time.Since(start).Seconds(), nil
}

// clientProduce sends n keyless records with one clients/go Producer
// (default batching, as kafkaProduce uses franz-go's) and returns records/s.
func clientProduce(ctx context.Context, c *strata.Client, topic string, acks strata.Acks, n int, value []byte) (float64, error) {
	p, err := c.NewProducer(strata.RequiredAcks(acks))
	if err != nil {
		return 0, err
	}
	defer p.Close()
	var mu sync.Mutex
	var first error
	start := time.Now()
	for range n {
		p.Produce(ctx, &strata.Record{Topic: topic, Value: value}, func(_ *strata.Record, err error) {
			if err != nil {
				mu.Lock()
				first = err
				mu.Unlock()
			}
		})
	}
	if err := p.Flush(ctx); err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), first
}

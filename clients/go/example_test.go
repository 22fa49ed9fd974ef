package strata_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	strata "github.com/strata-io/strata/clients/go"
)

// exampleServer is the gateway the examples talk to: the tests' strata
// dev (in your program, "localhost:9191" or your gateways' address).
func exampleServer() string { return devAddr }

func ExampleNewClient() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := strata.NewClient(ctx, exampleServer(), strata.WithRetries(5))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	cluster, err := client.Admin().DescribeCluster(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("storage nodes:", len(cluster.StorageNodes))
	// Output: storage nodes: 3
}

func ExampleProducer_Produce() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := strata.NewClient(ctx, exampleServer())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	if _, err := client.Admin().CreateTopic(ctx, "example-produce", 3, 1, nil); err != nil && !errors.Is(err, strata.ErrTopicExists) {
		fmt.Println(err)
		return
	}
	producer, err := client.NewProducer(strata.Linger(10 * time.Millisecond))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer producer.Close()
	for i := range 3 {
		r := &strata.Record{Topic: "example-produce", Key: []byte("customer-42"), Value: fmt.Appendf(nil, "order %d", i)}
		// The promise runs once the record is acknowledged (or failed);
		// promises of one partition run in order.
		producer.Produce(ctx, r, func(r *strata.Record, err error) {
			if err != nil {
				fmt.Println("failed:", err)
				return
			}
			fmt.Printf("%s → partition %d\n", r.Value, r.Partition)
		})
	}
	if err := producer.Flush(ctx); err != nil {
		fmt.Println(err)
	}
	// Output:
	// order 0 → partition 0
	// order 1 → partition 0
	// order 2 → partition 0
}

func ExampleProducer_ProduceSync() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := strata.NewClient(ctx, exampleServer())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	if _, err := client.Admin().CreateTopic(ctx, "example-sync", 1, 1, nil); err != nil && !errors.Is(err, strata.ErrTopicExists) {
		fmt.Println(err)
		return
	}
	producer, err := client.NewProducer()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer producer.Close()
	a := &strata.Record{Topic: "example-sync", Value: []byte("a")}
	b := &strata.Record{Topic: "example-sync", Value: []byte("b")}
	if err := producer.ProduceSync(ctx, a, b); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(a.Offset, b.Offset)
	err = producer.ProduceSync(ctx, &strata.Record{Topic: "example-sync", Headers: []strata.Header{{Key: ""}}})
	fmt.Println(errors.Is(err, strata.ErrInvalidRecord))
	err = producer.ProduceSync(ctx, &strata.Record{Topic: "no-such-topic", Value: []byte("x")})
	fmt.Println(errors.Is(err, strata.ErrUnknownTopic))
	// Output:
	// 0 1
	// true
	// true
}

func ExampleClient_NewConsumer() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client, err := strata.NewClient(ctx, exampleServer())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	if _, err := client.Admin().CreateTopic(ctx, "example-consume", 2, 1, nil); err != nil && !errors.Is(err, strata.ErrTopicExists) {
		fmt.Println(err)
		return
	}
	producer, _ := client.NewProducer()
	var recs []*strata.Record
	for i := range 10 {
		recs = append(recs, &strata.Record{Topic: "example-consume", Key: fmt.Append(nil, i), Value: fmt.Append(nil, i)})
	}
	if err := producer.ProduceSync(ctx, recs...); err != nil {
		fmt.Println(err)
		return
	}
	producer.Close()

	consumer, err := client.NewConsumer("example-group", []string{"example-consume"},
		strata.ConsumeStartOffset(strata.AtStart()))
	if err != nil {
		fmt.Println(err)
		return
	}
	read := 0
	for read < 10 {
		fetches, err := consumer.Poll(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		read += fetches.NumRecords()
		// Commit what was processed (auto-commit would do it too, every
		// 5s and at Close).
		if err := consumer.CommitRecords(ctx, fetches.Records()...); err != nil {
			fmt.Println(err)
		}
	}
	if err := consumer.Close(ctx); err != nil {
		fmt.Println(err)
	}
	g, err := client.Admin().DescribeGroup(ctx, "example-group")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("read", read, "lag", g.TotalLag)
	// Output: read 10 lag 0
}

func ExampleClient_NewReader() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := strata.NewClient(ctx, exampleServer())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	if _, err := client.Admin().CreateTopic(ctx, "example-read", 1, 1, nil); err != nil && !errors.Is(err, strata.ErrTopicExists) {
		fmt.Println(err)
		return
	}
	producer, _ := client.NewProducer()
	_ = producer.ProduceSync(ctx, &strata.Record{Topic: "example-read", Value: []byte("first")},
		&strata.Record{Topic: "example-read", Value: []byte("second")})
	producer.Close()

	// Partition 0 from offset 1, without a group.
	reader, err := client.NewReader(map[string]map[int32]strata.Offset{"example-read": {0: strata.At(1)}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reader.Close()
	fetches, err := reader.Poll(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fetches.EachRecord(func(r *strata.Record) { fmt.Println(r.Offset, string(r.Value)) })
	// Output: 1 second
}

func ExampleIsRetriable() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := strata.NewClient(ctx, exampleServer())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	_, err = client.Admin().CreateTopic(ctx, "bad name", 1, 1, nil)
	var e *strata.Error
	if errors.As(err, &e) {
		fmt.Println(e.Code, errors.Is(err, strata.ErrInvalidTopic), strata.IsRetriable(err))
	}
	// Output: ERROR_CODE_INVALID_TOPIC true false
}

// Command admin creates a topic, describes it and the cluster, and shows a
// consumer group's lag, with the Go client's admin API.
//
//	go run ./examples/admin -server localhost:9191 -topic orders -partitions 6 -group billing
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
	topic := flag.String("topic", "orders", "topic to create (if missing) and describe")
	partitions := flag.Int("partitions", 6, "partitions of a new topic")
	rf := flag.Int("replication-factor", 1, "replication factor of a new topic")
	group := flag.String("group", "", "consumer group to describe (none if empty)")
	flag.Parse()
	if err := run(*server, *topic, int32(*partitions), int32(*rf), *group); err != nil {
		fmt.Fprintln(os.Stderr, "admin:", err)
		os.Exit(1)
	}
}

func run(server, topic string, partitions, rf int32, group string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, err := strata.NewClient(ctx, server)
	if err != nil {
		return err
	}
	defer client.Close()
	admin := client.Admin()

	_, err = admin.CreateTopic(ctx, topic, partitions, rf, map[string]string{"retention.ms": "86400000"})
	switch {
	case errors.Is(err, strata.ErrTopicExists):
		fmt.Printf("topic %s exists\n", topic)
	case err != nil:
		return err
	default:
		fmt.Printf("created topic %s\n", topic)
	}
	t, err := admin.DescribeTopic(ctx, topic)
	if err != nil {
		return err
	}
	fmt.Printf("topic %s: %d partitions, replication factor %d, configs %v\n", t.Name, t.Partitions, t.ReplicationFactor, t.Configs)
	for _, p := range t.PartitionDetails {
		fmt.Printf("  partition %d: leader %d, replicas %v, isr %v, high watermark %d\n", p.Partition, p.Leader, p.Replicas, p.ISR, p.HighWatermark)
	}
	cluster, err := admin.DescribeCluster(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("cluster %s: %d controllers, %d storage nodes, %d gateways\n", cluster.ID, len(cluster.Controllers),
		len(cluster.StorageNodes), len(cluster.Gateways))
	if group == "" {
		return nil
	}
	g, err := admin.DescribeGroup(ctx, group)
	if err != nil {
		return err
	}
	fmt.Printf("group %s: %s, %d members, total lag %d\n", g.ID, g.State, len(g.Members), g.TotalLag)
	for _, p := range g.Partitions {
		fmt.Printf("  %s-%d: committed %d, end %d, lag %d\n", p.Topic, p.Partition, p.CommittedOffset, p.LogEndOffset, p.Lag)
	}
	return nil
}

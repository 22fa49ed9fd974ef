package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	segkafka "github.com/segmentio/kafka-go"
	"github.com/strata-io/strata/internal/testutil"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type saramaHandler struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (h *saramaHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *saramaHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for msg := range claim.Messages() {
		h.mu.Lock()
		h.seen[string(msg.Value)] = true
		h.mu.Unlock()
		sess.MarkMessage(msg, "")
	}
	return nil
}

func (h *saramaHandler) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.seen)
}

func TestKafkaSarama(t *testing.T) {
	c := kafkaCluster(t, map[string]int{"s28": 3, "s36": 3})
	for _, tc := range []struct {
		topic   string
		version sarama.KafkaVersion
	}{{"s28", sarama.V2_8_0_0}, {"s36", sarama.V3_6_0_0}} {
		t.Run(tc.version.String(), func(t *testing.T) {
			cfg := sarama.NewConfig()
			cfg.Version = tc.version
			cfg.Producer.Return.Successes = true
			cfg.Producer.RequiredAcks = sarama.WaitForLocal
			cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
			cfg.Consumer.Offsets.AutoCommit.Interval = 200 * time.Millisecond
			cfg.Consumer.Group.Session.Timeout = 6 * time.Second
			cfg.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
			addrs := []string{c.kafka}
			sp, err := sarama.NewSyncProducer(addrs, cfg)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 50 {
				if _, _, err := sp.SendMessage(&sarama.ProducerMessage{Topic: tc.topic, Key: sarama.StringEncoder(fmt.Sprint(i)),
					Value: sarama.StringEncoder(fmt.Sprintf("sync-%d", i))}); err != nil {
					t.Fatalf("sync send: %v", err)
				}
			}
			sp.Close()
			ap, err := sarama.NewAsyncProducer(addrs, cfg)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 50 {
				ap.Input() <- &sarama.ProducerMessage{Topic: tc.topic, Value: sarama.StringEncoder(fmt.Sprintf("async-%d", i))}
			}
			for range 50 {
				select {
				case <-ap.Successes():
				case err := <-ap.Errors():
					t.Fatalf("async send: %v", err)
				case <-time.After(30 * time.Second):
					t.Fatal("async producer: no answer")
				}
			}
			ap.Close()
			for _, strategy := range []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange(), sarama.NewBalanceStrategySticky()} {
				group := tc.topic + "-" + strategy.Name()
				gcfg := *cfg
				gcfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{strategy}
				cg, err := sarama.NewConsumerGroup(addrs, group, &gcfg)
				if err != nil {
					t.Fatal(err)
				}
				h := &saramaHandler{seen: map[string]bool{}}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() {
					defer close(done)
					for ctx.Err() == nil {
						if err := cg.Consume(ctx, []string{tc.topic}, h); err != nil && ctx.Err() == nil {
							t.Logf("consume: %v", err)
							time.Sleep(100 * time.Millisecond)
						}
					}
				}()
				testutil.WaitFor(t, 60*time.Second, func() error {
					if n := h.count(); n != 100 {
						return fmt.Errorf("%s: consumed %d of 100", strategy.Name(), n)
					}
					return nil
				})
				time.Sleep(500 * time.Millisecond) // an auto-commit round
				cancel()
				<-done
				cg.Close()
				// The committed offsets cover everything.
				adm, err := sarama.NewClusterAdmin(addrs, cfg)
				if err != nil {
					t.Fatal(err)
				}
				offs, err := adm.ListConsumerGroupOffsets(group, map[string][]int32{tc.topic: {0, 1, 2}})
				if err != nil {
					t.Fatal(err)
				}
				var total int64
				for _, b := range offs.Blocks[tc.topic] {
					total += b.Offset
				}
				adm.Close()
				if total != 100 {
					t.Fatalf("%s: committed offsets sum to %d, want 100", strategy.Name(), total)
				}
			}
		})
	}
}

func TestKafkaSegmentio(t *testing.T) {
	c := kafkaCluster(t, map[string]int{"seg": 3})
	// The Writer's default is acks=0 (no response at all).
	w := &segkafka.Writer{Addr: segkafka.TCP(c.kafka), Topic: "seg", Balancer: &segkafka.RoundRobin{}, BatchTimeout: 10 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var msgs []segkafka.Message
	for i := range 60 {
		msgs = append(msgs, segkafka.Message{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("seg-%d", i))})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	w.Close()
	// And one with acks=all.
	w = &segkafka.Writer{Addr: segkafka.TCP(c.kafka), Topic: "seg", RequiredAcks: segkafka.RequireAll, BatchTimeout: 10 * time.Millisecond}
	if err := w.WriteMessages(ctx, segkafka.Message{Value: []byte("seg-acked")}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	r := segkafka.NewReader(segkafka.ReaderConfig{Brokers: []string{c.kafka}, GroupID: "seg-group", Topic: "seg",
		SessionTimeout: 6 * time.Second, HeartbeatInterval: 500 * time.Millisecond, MaxWait: 200 * time.Millisecond})
	defer r.Close()
	seen := map[string]bool{}
	for len(seen) < 61 {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read after %d messages: %v", len(seen), err)
		}
		seen[string(m.Value)] = true
	}
	if !seen["seg-acked"] || !seen["seg-0"] || !seen["seg-59"] {
		t.Fatalf("missing messages: %v", seen)
	}
}

func TestKafkaKcatGroupAndAdmin(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat (librdkafka) is not installed: apt-get install kcat (.ci/run does); skipping the librdkafka group test")
	}
	c := kafkaCluster(t, map[string]int{})
	// Topics through the Kafka admin API (CreateTopics), then configs.
	cl := franzClient(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	creq := kmsg.NewPtrCreateTopicsRequest()
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = "kg", 3, 1
	creq.Topics = append(creq.Topics, ct)
	cresp, err := creq.RequestWith(ctx, cl)
	if err != nil || cresp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create topics: %v %+v", err, cresp)
	}
	again, err := creq.RequestWith(ctx, cl)
	if err != nil || again.Topics[0].ErrorCode != 36 {
		t.Fatalf("create an existing topic: %v %+v, want TOPIC_ALREADY_EXISTS", err, again)
	}
	ireq := kmsg.NewPtrIncrementalAlterConfigsRequest()
	ir := kmsg.NewIncrementalAlterConfigsRequestResource()
	ir.ResourceType, ir.ResourceName = 2, "kg"
	v := "3600000"
	ir.Configs = []kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: "retention.ms", Op: 0, Value: &v}}
	ireq.Resources = append(ireq.Resources, ir)
	if iresp, err := ireq.RequestWith(ctx, cl); err != nil || iresp.Resources[0].ErrorCode != 0 {
		t.Fatalf("incremental alter configs: %v %+v", err, iresp)
	}
	dreq := kmsg.NewPtrDescribeConfigsRequest()
	dr := kmsg.NewDescribeConfigsRequestResource()
	dr.ResourceType, dr.ResourceName, dr.ConfigNames = 2, "kg", []string{"retention.ms"}
	dreq.Resources = append(dreq.Resources, dr)
	dresp, err := dreq.RequestWith(ctx, cl)
	if err != nil || len(dresp.Resources[0].Configs) != 1 || *dresp.Resources[0].Configs[0].Value != v {
		t.Fatalf("describe configs: %v %+v", err, dresp)
	}
	preq := kmsg.NewPtrCreatePartitionsRequest()
	pt := kmsg.NewCreatePartitionsRequestTopic()
	pt.Topic, pt.Count = "kg", 4
	preq.Topics = append(preq.Topics, pt)
	if presp, err := preq.RequestWith(ctx, cl); err != nil || presp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create partitions: %v %+v", err, presp)
	}
	testutil.WaitFor(t, 10*time.Second, func() error {
		out, _ := exec.Command(kcat, "-b", c.kafka, "-L", "-t", "kg").CombinedOutput()
		if !strings.Contains(string(out), "with 4 partitions") {
			return fmt.Errorf("kcat -L: %s", out)
		}
		return nil
	})
	var lines []string
	for i := range 40 {
		lines = append(lines, fmt.Sprintf("g-%d", i))
	}
	prod := exec.CommandContext(ctx, kcat, "-b", c.kafka, "-P", "-t", "kg")
	prod.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := prod.CombinedOutput(); err != nil {
		t.Fatalf("kcat -P: %v %s", err, out)
	}
	cons := exec.CommandContext(ctx, kcat, "-b", c.kafka, "-G", "kcat-group", "-o", "beginning", "-e", "-q", "-f", "%s\n",
		"-X", "session.timeout.ms=6000", "kg")
	out, err := cons.Output()
	if err != nil {
		t.Fatalf("kcat -G: %v %s", err, out)
	}
	if got := strings.Fields(string(out)); len(got) != 40 {
		t.Fatalf("kcat -G consumed %d of 40: %q", len(got), out)
	}
	// DeleteTopics.
	delReq := kmsg.NewPtrDeleteTopicsRequest()
	name := "kg"
	delReq.Topics = []kmsg.DeleteTopicsRequestTopic{{Topic: &name}}
	delReq.TopicNames = []string{"kg"}
	if dr, err := delReq.RequestWith(ctx, cl); err != nil || dr.Topics[0].ErrorCode != 0 {
		t.Fatalf("delete topics: %v %+v", err, dr)
	}
}

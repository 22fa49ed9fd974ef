package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	"github.com/strata-io/strata/internal/rpc"
)

// BenchmarkRestProduce measures REST produce on `strata dev`: POST
// /v1/topics/{topic}/records with 1,000-record JSON bodies (a text key
// and a 100-byte value, as text or as a JSON object), from several HTTP
// clients at once, beside unary gRPC Produce of the same records with the
// same concurrency, RF=1 acks=leader and RF=3 acks=all. It reports
// records/s. Run with `make bench-rest`.
func BenchmarkRestProduce(b *testing.B) {
	kafka, grpcAddr, httpAddr := startDevAddrs(b)
	conn, err := rpc.Dial(grpcAddr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	sc := streamv1.NewStreamServiceClient(conn)
	const perBody, bodies, clients, rounds = 1000, 100, 4, 3
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	type mode struct {
		name string
		rf   int16
		acks streamv1.Acks
	}
	modes := []mode{{"RF=1 acks=leader", 1, streamv1.Acks_ACKS_LEADER}, {"RF=3 acks=all", 3, streamv1.Acks_ACKS_ALL}}
	text := strings.Repeat("x", 100)
	forms := map[string]func(i int) map[string]any{
		"text": func(i int) map[string]any { return map[string]any{"text": text} },
		// About 100 bytes of JSON once stored.
		"json": func(i int) map[string]any {
			return map[string]any{"json": map[string]any{"id": i, "customer": "customer-42", "amount": 12.5, "currency": "EUR",
				"note": strings.Repeat("n", 30)}}
		},
	}
	for range b.N {
		fmt.Printf("\n%-17s %-5s %-6s %14s %14s %9s\n", "mode", "value", "round", "REST rec/s", "gRPC rec/s", "REST/gRPC")
		for _, m := range modes {
			topic := fmt.Sprintf("rest-bench-%d", m.rf)
			if err := benchTopic(kafka, topic, m.rf); err != nil {
				b.Fatal(err)
			}
			for _, form := range []string{"text", "json"} {
				body, grpcReq := restBody(topic, m.acks, perBody, forms[form])
				for r := range rounds {
					rest, err := restProduce(hc, "http://"+httpAddr+"/v1/topics/"+topic+"/records", body, bodies, clients)
					if err != nil {
						b.Fatal(err)
					}
					grpc, err := grpcProduce(sc, grpcReq, bodies, clients)
					if err != nil {
						b.Fatal(err)
					}
					fmt.Printf("%-17s %-5s %-6d %14.0f %14.0f %9.2f\n", m.name, form, r+1, rest, grpc, rest/grpc)
					if m.rf == 3 && form == "text" && r == rounds-1 {
						b.ReportMetric(rest, "rest-records/s")
						b.ReportMetric(grpc, "grpc-records/s")
					}
				}
			}
		}
	}
}

// restBody is one JSON body of n records (key "key-<i>", value from
// value) and the same records as a gRPC Produce request.
func restBody(topic string, acks streamv1.Acks, n int, value func(i int) map[string]any) ([]byte, *streamv1.ProduceRequest) {
	recs := make([]map[string]any, n)
	req := &streamv1.ProduceRequest{Topic: topic, Acks: acks, Records: make([]*streamv1.ProduceRecord, n)}
	for i := range recs {
		key := fmt.Sprintf("key-%d", i)
		v := value(i)
		recs[i] = map[string]any{"key": map[string]any{"text": key}, "value": v}
		var vb []byte
		if t, ok := v["text"].(string); ok {
			vb = []byte(t)
		} else {
			vb, _ = json.Marshal(v["json"])
		}
		req.Records[i] = &streamv1.ProduceRecord{Key: []byte(key), Value: vb}
	}
	body, _ := json.Marshal(map[string]any{"acks": acks.String(), "records": recs})
	return body, req
}

// restProduce posts body count times from clients goroutines and returns
// records/s; any failed record fails it.
func restProduce(hc *http.Client, url string, body []byte, count, clients int) (float64, error) {
	var next atomic.Int64
	var records atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(count) {
				n, err := restPost(hc, url, body)
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				records.Add(int64(n))
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return 0, firstErr
	}
	return float64(records.Load()) / time.Since(start).Seconds(), nil
}

func restPost(hc *http.Client, url string, body []byte) (int, error) {
	resp, err := hc.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("HTTP %d: %s", resp.StatusCode, out)
	}
	var r struct {
		Results []struct {
			Error *struct{ Message string } `json:"error"`
		} `json:"results"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return 0, err
	}
	for _, res := range r.Results {
		if res.Error != nil {
			return 0, fmt.Errorf("record failed: %s", res.Error.Message)
		}
	}
	return len(r.Results), nil
}

// grpcProduce sends req count times from clients goroutines over unary
// Produce and returns records/s.
func grpcProduce(sc streamv1.StreamServiceClient, req *streamv1.ProduceRequest, count, clients int) (float64, error) {
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(count) {
				resp, err := sc.Produce(ctx, req)
				if err == nil {
					for _, r := range resp.GetResults() {
						if r.GetError() != nil {
							err = fmt.Errorf("record failed: %s", r.GetError().GetMessage())
							break
						}
					}
				}
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return 0, firstErr
	}
	return float64(count*len(req.GetRecords())) / time.Since(start).Seconds(), nil
}

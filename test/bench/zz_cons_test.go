package bench

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"testing"

	strata "github.com/strata-io/strata/clients/go"
	"github.com/twmb/franz-go/pkg/kgo"
)

func BenchmarkZZCons(b *testing.B) {
	ctx := context.Background()
	n := 300000
	if os.Getenv("ZZ_N") != "" {
		n = 1200000
	}
	if os.Getenv("ZZ_PRODUCE") != "" {
		r, err := kafkaProduce("127.0.0.1:9092", "cons", kgo.AllISRAcks(), n, make([]byte, 1024))
		fmt.Println("produce", r, err)
	}
	c, err := strata.NewClient(ctx, "127.0.0.1:9191")
	if err != nil {
		b.Fatal(err)
	}
	for i := range 2 {
		if os.Getenv("ZZ_ONLY") == "client" {
			g, err := clientConsume(ctx, c, "cons", fmt.Sprint(os.Getpid(), "g", i), n)
			fmt.Printf("client %.1f MB/s %v\n", g*1024/1e6, err)
			continue
		}
		if os.Getenv("ZZ_ONLY") == "franz" {
			k, err := kafkaConsume("127.0.0.1:9092", "cons", fmt.Sprint(os.Getpid(), "k", i), n)
			fmt.Printf("franz %.1f MB/s %v\n", k*1024/1e6, err)
			continue
		}
		k, err := kafkaConsume("127.0.0.1:9092", "cons", fmt.Sprint(os.Getpid(), "k", i), n)
		fmt.Printf("franz %.1f MB/s %v\n", k*1024/1e6, err)
		if i == 1 {
			f, _ := os.Create("/tmp/client.prof")
			pprof.StartCPUProfile(f)
		}
		g, err := clientConsume(ctx, c, "cons", fmt.Sprint(os.Getpid(), "g", i), n)
		if i == 1 {
			pprof.StopCPUProfile()
		}
		fmt.Printf("client %.1f MB/s %v\n", g*1024/1e6, err)
	}
}

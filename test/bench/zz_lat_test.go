package bench

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	"github.com/strata-io/strata/internal/rpc"
)

func BenchmarkZZStreamLat(b *testing.B) {
	conn, err := rpc.Dial("127.0.0.1:9191")
	if err != nil {
		b.Fatal(err)
	}
	sc := streamv1.NewStreamServiceClient(conn)
	perMs := 100
	if os.Getenv("ZZ_20K") != "" {
		perMs = 20
	}
	ctx := context.Background()
	st, err := sc.ProduceStream(ctx)
	if err != nil {
		b.Fatal(err)
	}
	st.Send(&streamv1.ProduceStreamRequest{Message: &streamv1.ProduceStreamRequest_Open{Open: &streamv1.ProduceStreamOpen{Topic: "lat"}}})
	st.Recv()
	recs := make([]*streamv1.ProduceRecord, perMs)
	for i := range recs {
		recs[i] = &streamv1.ProduceRecord{Value: make([]byte, 100)}
	}
	var sentAt sync.Map
	start := time.Now()
	go func() {
		tick := time.NewTicker(time.Millisecond)
		for n, deadline := 0, time.Now().Add(3*time.Second); time.Now().Before(deadline); n++ {
			<-tick.C
			sentAt.Store(uint64(n), time.Now())
			st.Send(&streamv1.ProduceStreamRequest{Message: &streamv1.ProduceStreamRequest_Batch{Batch: &streamv1.ProduceStreamBatch{RequestId: uint64(n), Records: recs}}})
		}
		st.CloseSend()
	}()
	type pt struct{ at, d time.Duration }
	var pts []pt
	for {
		m, err := st.Recv()
		if err != nil {
			break
		}
		if e := m.GetAck().GetError(); e != nil {
			fmt.Println("refused", e.GetMessage())
		}
		if t, ok := sentAt.Load(m.GetAck().GetRequestId()); ok {
			pts = append(pts, pt{t.(time.Time).Sub(start), time.Since(t.(time.Time))})
		}
	}
	all := make([]time.Duration, len(pts))
	for i, p := range pts {
		all[i] = p.d
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	fmt.Printf("n=%d p50 %v p90 %v p99 %v max %v\n", len(all), all[len(all)/2], all[len(all)*9/10], all[len(all)*99/100], all[len(all)-1])
	for _, p := range pts {
		if p.d > 10*time.Millisecond {
			fmt.Printf("slow at %v: %v\n", p.at.Round(time.Millisecond), p.d.Round(time.Millisecond))
		}
	}
}

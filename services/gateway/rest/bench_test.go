package rest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkProduceBody is the REST layer's cost of one 1,000-record body
// (decode, check, convert, encode the answer), the gRPC call stubbed.
func BenchmarkProduceBody(b *testing.B) {
	for _, form := range []string{"text", "json"} {
		b.Run(form, func(b *testing.B) {
			recs := make([]map[string]any, 1000)
			for i := range recs {
				v := map[string]any{"text": strings.Repeat("x", 100)}
				if form == "json" {
					v = map[string]any{"json": map[string]any{"id": i, "customer": "customer-42", "amount": 12.5, "note": strings.Repeat("n", 30)}}
				}
				recs[i] = map[string]any{"key": map[string]any{"text": fmt.Sprint("key-", i)}, "value": v}
			}
			body, _ := json.Marshal(map[string]any{"records": recs})
			h, err := New(Config{Conn: &fakeConn{}, Partitions: func(string) (int32, bool) { return 1, true }})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest("POST", "/v1/topics/t/records", bytes.NewReader(body)))
				if w.Code != http.StatusOK {
					b.Fatalf("HTTP %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}

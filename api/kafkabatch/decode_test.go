package kafkabatch

import "testing"

// BenchmarkDecode: one batch of 1,000 records of 1 KiB with a key and a
// header, as a Consume stream sends it.
func BenchmarkDecode(b *testing.B) {
	var w Builder
	value := make([]byte, 1024)
	for i := range 1000 {
		w.Add([]byte("key"), value, int64(1_700_000_000_000+i), []Header{{Key: "h", Value: []byte("v")}})
	}
	batch := w.Finish()
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		if err := Decode(batch, func(Record) { n++ }); err != nil || n != 1000 {
			b.Fatal(n, err)
		}
	}
}

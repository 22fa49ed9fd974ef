package kafkakey

import "testing"

// Kafka's own vectors (UtilsTest.testMurmur2), as Java ints.
func TestMurmur2KafkaVectors(t *testing.T) {
	for _, c := range []struct {
		in   []byte
		want int32
	}{
		{[]byte("21"), -973932308},
		{[]byte("foobar"), -790332482},
		{[]byte("a-little-bit-long-string"), -985981536},
		{[]byte("a-little-bit-longer-string"), -1486304829},
		{[]byte("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971},
		{[]byte{'a', 'b', 'c'}, 479470107},
	} {
		if got := int32(Murmur2(c.in)); got != c.want {
			t.Errorf("Murmur2(%q) = %d, want %d", c.in, got, c.want)
		}
	}
}

// Partitions Kafka's default partitioner picks, worked out by hand from the
// vectors above: toPositive(h) % n.
func TestPartitionKafkaValues(t *testing.T) {
	for _, c := range []struct {
		key  string
		n    int32
		want int32
	}{
		{"21", 10, int32((-973932308 & 0x7fffffff) % 10)},
		{"foobar", 6, int32((-790332482 & 0x7fffffff) % 6)},
		{"abc", 3, 479470107 % 3},
		{"a-little-bit-longer-string", 100, int32((-1486304829 & 0x7fffffff) % 100)},
	} {
		if got := Partition([]byte(c.key), c.n); got != c.want {
			t.Errorf("Partition(%q, %d) = %d, want %d", c.key, c.n, got, c.want)
		}
	}
}

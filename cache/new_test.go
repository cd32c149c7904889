package cache

import "testing"

// BenchmarkNew is the caches' share of startup time at the default sizes.
func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		c, err := New(Config{})
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

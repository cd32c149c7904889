package pipeline

import (
	"sync/atomic"
	"testing"

	"github.com/panjf2000/ants/v2"
)

// BenchmarkBulkhead compares the two ways of putting a pooled call on a
// worker without ever parking the caller, at the pool sizes the built-in
// capabilities use:
//
//	impl=queue   the bulkhead as built: a bounded channel drained by one
//	             dispatcher goroutine into a blocking ants pool (two
//	             hand-offs, a queue of 4 × size).
//	impl=ants    ants used directly with WithNonblocking: one hand-off, no
//	             queue (a call that finds every worker busy is refused).
//
// Each op submits one call and waits for it to finish, as Execute does.
// "%refused" is the share of calls answered overloaded.
func BenchmarkBulkhead(b *testing.B) {
	for _, size := range []int{8, 64} {
		b.Run("impl=queue/size="+itoa(size), func(b *testing.B) {
			p, err := ants.NewPool(size)
			if err != nil {
				b.Fatal(err)
			}
			bh := &bulkhead{pool: p, q: make(chan func(), 4*size), done: make(chan struct{})}
			go bh.dispatch()
			defer bh.stop()
			runBulkhead(b, bh.offer)
		})
		b.Run("impl=ants/size="+itoa(size), func(b *testing.B) {
			p, err := ants.NewPool(size, ants.WithNonblocking(true))
			if err != nil {
				b.Fatal(err)
			}
			defer p.Release()
			runBulkhead(b, func(task func()) bool { return p.Submit(task) == nil })
		})
	}
}

func runBulkhead(b *testing.B, offer func(func()) bool) {
	var refused atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		done := make(chan struct{}, 1)
		task := func() { done <- struct{}{} }
		for pb.Next() {
			if !offer(task) {
				refused.Add(1)
				continue
			}
			<-done
		}
	})
	b.ReportMetric(100*float64(refused.Load())/float64(b.N), "%refused")
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var buf [20]byte
	i := len(buf)
	for n > 0 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	return string(buf[i:])
}

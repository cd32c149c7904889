package ipc

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw-go/stats"
)

// BenchmarkRingFrame: one 256-byte frame written, published, read and
// released on one ring (the ring's own cost; the cross-process ceiling
// harness measures the cache-line transfer on top).
func BenchmarkRingFrame(b *testing.B) {
	for _, batch := range []int{1, 32} {
		b.Run(fmt.Sprintf("msgSz=256b/batch=%d", batch), func(b *testing.B) {
			_, prod, cons := testRegion(1<<16, 1024)
			msg := make([]byte, 256)
			buf := make([]byte, 256)
			alloc := func(int) []byte { return buf }
			var f frame
			b.SetBytes(int64(256 * batch))
			b.ReportAllocs()
			for b.Loop() {
				for range batch {
					prod.write(1, 0, msg)
				}
				prod.publish()
				for range batch {
					cons.next(&f, alloc)
				}
				cons.release()
			}
		})
	}
}

// BenchmarkRoundTrip: Execute of noop through a server in this process
// (no journal), over the ring and over socket framing; p50/p99 reported.
func BenchmarkRoundTrip(b *testing.B) {
	for _, frames := range []string{"ring", "socket"} {
		b.Run("frames="+frames, func(b *testing.B) {
			s := startServer(b, ServerConfig{})
			c, err := Dial(context.Background(), s.path, ClientConfig{SocketFrames: frames == "socket"})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			h := stats.NewHistogram(stats.HistogramConfig{SigFigs: 3})
			msg := []byte(noop)
			b.ReportAllocs()
			for b.Loop() {
				t := time.Now()
				if _, err := c.Execute(context.Background(), msg); err != nil {
					b.Fatal(err)
				}
				h.Record(int64(time.Since(t)))
			}
			sum := h.Snapshot().Summary()
			b.ReportMetric(float64(sum.P50), "p50-ns")
			b.ReportMetric(float64(sum.P99), "p99-ns")
		})
	}
}

// BenchmarkPipelined: 256 requests in flight with Submit from one
// goroutine, answers counted on the reader.
func BenchmarkPipelined(b *testing.B) {
	for _, frames := range []string{"ring", "socket"} {
		b.Run("frames="+frames+"/inflight=256", func(b *testing.B) {
			s := startServer(b, ServerConfig{})
			c, err := Dial(context.Background(), s.path, ClientConfig{SocketFrames: frames == "socket", MaxInFlight: 256})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			msg := []byte(noop)
			done := make(chan struct{}, 256)
			b.ReportAllocs()
			sent, got := 0, 0
			for b.Loop() {
				if err := c.Submit(msg, func([]byte, error) { done <- struct{}{} }); err != nil {
					b.Fatal(err)
				}
				if sent++; sent-got >= 256 {
					<-done
					got++
				}
			}
			for ; got < sent; got++ {
				<-done
			}
		})
	}
}

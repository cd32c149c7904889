package transport

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkExecuteH3 drives POST /v1/execute of noop through the Go
// client against a server in the same process (durable journal, always
// mode), closed loop: inflight workers spread over conns connections.
// Reports req/s and exact p50/p99 latency. Cross-process numbers against
// the bare quic-go echo come from cmd/fcload and ceilings/cmd/netbench.
//
//	go test -run '^$' -bench ExecuteH3 -benchtime 20000x ./transport/
func BenchmarkExecuteH3(b *testing.B) {
	for _, c := range []struct{ conns, inflight int }{{1, 1}, {1, 256}, {4, 64}} {
		b.Run(fmt.Sprintf("conns=%d/inflight=%d", c.conns, c.inflight), func(b *testing.B) {
			e := newEnv(b, envOpts{quiet: true})
			clients := make([]*Client, c.conns)
			for i := range clients {
				clients[i] = e.newClient(ClientConfig{Token: testToken, SPKIPin: e.srv.SPKIPin()})
			}
			msg := []byte(`{"tool_call":{"tool":"noop","args":{}}}`)
			// Warm up: open the connections.
			for _, cl := range clients {
				if s, _, err := cl.Execute(context.Background(), msg, ""); err != nil || s != 200 {
					b.Fatal(s, err)
				}
			}
			lats := make([][]int64, c.inflight)
			commits := make([][]int64, c.inflight)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for w := range c.inflight {
				wg.Go(func() {
					cl := clients[w%c.conns]
					l := make([]int64, 0, b.N/c.inflight+1)
					cm := make([]int64, 0, b.N/c.inflight+1)
					for next.Add(1) <= int64(b.N) {
						t0 := time.Now()
						s, a, err := cl.Execute(context.Background(), msg, "")
						if err != nil || s != 200 {
							b.Error(s, err)
							return
						}
						l = append(l, int64(time.Since(t0)))
						cm = append(cm, answerCommitNs(a))
					}
					lats[w], commits[w] = l, cm
				})
			}
			wg.Wait()
			el := time.Since(start)
			b.StopTimer()
			reportLatency(b, el, slices.Concat(lats...))
			// The journal's share of the latency, from the answers'
			// timings_ns.commit: the latency target is the echo's p50 +
			// this + 50 µs.
			cm := slices.Concat(commits...)
			slices.Sort(cm)
			b.ReportMetric(float64(cm[len(cm)/2]), "commit-p50-ns")
		})
	}
}

// answerCommitNs extracts timings_ns.commit from an answer.
func answerCommitNs(a []byte) int64 {
	i := bytes.Index(a, []byte(`"commit":`))
	if i < 0 {
		return 0
	}
	var n int64
	for _, c := range a[i+len(`"commit":`):] {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// BenchmarkStreamH3 pipelines noop messages on one POST /v1/stream with
// at most inflight unanswered, answers read in order.
func BenchmarkStreamH3(b *testing.B) {
	for _, inflight := range []int{1, 256} {
		b.Run(fmt.Sprintf("conns=1/inflight=%d", inflight), func(b *testing.B) {
			e := newEnv(b, envOpts{quiet: true})
			st, err := e.client.Stream(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			msg := []byte(`{"tool_call":{"tool":"noop","args":{}}}`)
			sent := make(chan time.Time, inflight) // send times, FIFO = answer order
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			go func() {
				for range b.N {
					sent <- time.Now() // blocks while inflight are outstanding
					if err := st.Send(msg); err != nil {
						return
					}
				}
			}()
			lat := make([]int64, 0, b.N)
			for range b.N {
				a, err := st.Recv()
				if err != nil {
					b.Fatal(err)
				}
				if len(a) < 20 || string(a[len(a)-1:]) != "}" {
					b.Fatalf("answer %q", a)
				}
				lat = append(lat, int64(time.Since(<-sent)))
			}
			el := time.Since(start)
			b.StopTimer()
			reportLatency(b, el, lat)
		})
	}
}

func reportLatency(b *testing.B, el time.Duration, lat []int64) {
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(float64(len(lat))*p))])
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "req/s")
	b.ReportMetric(pct(0.50), "p50-ns")
	b.ReportMetric(pct(0.99), "p99-ns")
}

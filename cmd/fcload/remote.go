package main

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/femtoclaw/femtoclaw-go/perf"
	"github.com/femtoclaw/femtoclaw-go/protocol"
	"github.com/femtoclaw/femtoclaw-go/stats"
	"github.com/femtoclaw/femtoclaw-go/transport"
)

// runRemote drives a server over HTTP/3: -workers requests in flight
// spread over -conns connections (one Go client each), through
// POST /v1/execute, or with -stream through POST /v1/stream with
// -workers/-conns messages pipelined on each connection's stream.
func runRemote(ctx context.Context, o options, stdout, stderr io.Writer) error {
	token, err := readToken(o)
	if err != nil {
		return err
	}
	if o.pin == "" && o.caFile == "" && o.dataDir != "" {
		if b, err := os.ReadFile(o.dataDir + "/tls/cert.pem"); err == nil {
			if blk, _ := pem.Decode(b); blk != nil {
				o.pin, _ = transport.SPKIPin(blk.Bytes)
			}
		}
	}
	conns := max(o.conns, 1)
	clients := make([]*transport.Client, conns)
	for i := range clients {
		c, err := transport.NewClient(o.target, transport.ClientConfig{Token: token, SPKIPin: o.pin, CAFile: o.caFile})
		if err != nil {
			return err
		}
		defer c.Close()
		clients[i] = c
	}
	msg := []byte(o.msg)
	mode := "execute"
	if o.stream {
		mode = "stream"
	}
	name := fmt.Sprintf("Fcload/target=h3/mode=%s/conns=%d/inflight=%d", mode, conns, o.workers)
	for range o.count {
		var r perf.Result
		if o.stream {
			r = runStream(ctx, o, name, clients, msg)
		} else {
			r = perf.Run(ctx, perf.Config{Name: name, Workers: o.workers, Duration: o.duration, Warmup: o.warmup, Rate: o.rate}, func(i int) perf.Op {
				c := clients[i%conns]
				return func(ctx context.Context) error {
					status, ans, err := c.Execute(ctx, msg, "")
					if err != nil {
						return err
					}
					if status != 200 {
						return fmt.Errorf("status %d: %s", status, clip(ans))
					}
					return answerErr(ans)
				}
			})
		}
		r.WriteBench(stdout)
		if r.FirstError != nil {
			fmt.Fprintf(stderr, "first error: %v\n", r.FirstError)
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil
}

// runStream keeps workers/conns messages in flight on one stream per
// connection; latency is from a message's send to its answer.
func runStream(ctx context.Context, o options, name string, clients []*transport.Client, msg []byte) perf.Result {
	window := max(o.workers/len(clients), 1)
	h := stats.NewHistogram(stats.HistogramConfig{SigFigs: 3})
	var n, errs atomic.Int64
	var first atomic.Value
	measure := atomic.Bool{}
	phaseCtx, cancel := context.WithTimeout(ctx, o.warmup+o.duration)
	defer cancel()
	var wg sync.WaitGroup
	var start time.Time
	for _, c := range clients {
		wg.Go(func() {
			st, err := c.Stream(phaseCtx)
			if err != nil {
				first.CompareAndSwap(nil, err)
				errs.Add(1)
				return
			}
			defer st.Close()
			sent := make(chan time.Time, window)
			var rwg sync.WaitGroup
			rwg.Go(func() {
				for t := range sent {
					ans, err := st.Recv()
					if err != nil {
						if phaseCtx.Err() == nil {
							first.CompareAndSwap(nil, err)
							errs.Add(1)
						}
						for range sent {
						}
						return
					}
					if measure.Load() {
						// Latency is recorded for successes only, as in perf.Run.
						if aerr := answerErr(ans); aerr != nil {
							first.CompareAndSwap(nil, aerr)
							errs.Add(1)
						} else {
							h.Record(int64(time.Since(t)))
							n.Add(1)
						}
					}
				}
			})
			for phaseCtx.Err() == nil {
				t := time.Now()
				if err := st.Send(msg); err != nil {
					if !errors.Is(err, context.Canceled) && phaseCtx.Err() == nil {
						first.CompareAndSwap(nil, err)
						errs.Add(1)
					}
					break
				}
				sent <- t
			}
			close(sent)
			st.CloseSend()
			rwg.Wait()
		})
	}
	if o.warmup > 0 {
		select {
		case <-time.After(o.warmup):
		case <-phaseCtx.Done():
		}
	}
	start = time.Now()
	measure.Store(true)
	<-phaseCtx.Done()
	el := time.Since(start)
	measure.Store(false)
	wg.Wait()
	r := perf.Result{Name: name, Ops: n.Load(), Errors: errs.Load(), Elapsed: el, Throughput: float64(n.Load()) / el.Seconds(), Latency: h.Snapshot().Summary()}
	if e, ok := first.Load().(error); ok {
		r.FirstError = e
	}
	return r
}

// answerErr returns nil when ans is a successful answer, else an error
// naming what the answer said. Every answer is parsed (protocol.ParseAnswer,
// about 1.5 µs): the parse is part of checking what the server sent.
func answerErr(ans []byte) error {
	if len(ans) == 0 {
		return errors.New("empty answer")
	}
	a, err := protocol.ParseAnswer(ans)
	if err != nil {
		return fmt.Errorf("%w: %s", err, clip(ans))
	}
	if a.Status != protocol.StatusSuccess {
		return fmt.Errorf("answer not successful: %s", clip(ans))
	}
	return nil
}

// clip bounds an answer quoted in an error message.
func clip(b []byte) string {
	const n = 512
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/femtoclaw/femtoclaw-go/perf"
	"github.com/femtoclaw/femtoclaw-go/protocol"
	"github.com/femtoclaw/femtoclaw-go/transport"
)

// runRemote drives a server over HTTP/3 (-target h3: the one the data
// directory's run.json names; or -target URL): -workers requests in flight
// spread over -conns connections (one Go client each), through
// POST /v1/execute, or with -stream through POST /v1/stream with
// -workers/-conns messages pipelined on each connection's stream.
func runRemote(ctx context.Context, o options, stdout, stderr io.Writer) error {
	if err := resolveRemote(&o); err != nil {
		return err
	}
	token, err := readToken(o)
	if err != nil {
		return err
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
	return runPhase(ctx, o, name, len(clients), func(ctx context.Context, p *phase, i int) {
		st, err := clients[i].Stream(ctx)
		if err != nil {
			p.fail(err)
			return
		}
		defer st.Close()
		sent := make(chan time.Time, window)
		var rwg sync.WaitGroup
		rwg.Go(func() {
			for t := range sent {
				ans, err := st.Recv()
				if err != nil {
					if ctx.Err() == nil {
						p.fail(err)
					}
					for range sent {
					}
					return
				}
				p.answered(t, answerErr(ans))
			}
		})
		for ctx.Err() == nil {
			t := time.Now()
			if err := st.Send(msg); err != nil {
				if !errors.Is(err, context.Canceled) && ctx.Err() == nil {
					p.fail(err)
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

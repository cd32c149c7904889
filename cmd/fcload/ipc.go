package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/femtoclaw/femtoclaw-go/ipc"
	"github.com/femtoclaw/femtoclaw-go/perf"
)

// runIPC drives a server over its shared-memory ring (package ipc), or
// with -frames socket over the same socket with the same frames and no
// ring (the comparison the ring is measured against):
// -conns connections (one region each). Closed loop: -workers goroutines
// share them, each calling Execute. With -stream: one goroutine per
// connection keeps -workers/-conns requests in flight with Submit, the
// pipelined shape; latency is from a request's submission to its answer.
func runIPC(ctx context.Context, o options, stdout, stderr io.Writer) error {
	path, err := ringSocket(o)
	if err != nil {
		return err
	}
	conns := max(o.conns, 1)
	clients := make([]*ipc.Client, conns)
	for i := range clients {
		c, err := ipc.Dial(ctx, path, ipc.ClientConfig{MaxInFlight: max(o.workers, 1), SocketFrames: o.frames == "socket", Spin: o.spin})
		if err != nil {
			return err
		}
		defer c.Close()
		clients[i] = c
	}
	msg := []byte(o.msg)
	mode := "execute"
	if o.stream {
		mode = "pipelined"
	}
	if o.frames != "ring" && o.frames != "socket" {
		return fmt.Errorf("-frames %q: want ring or socket", o.frames)
	}
	name := fmt.Sprintf("Fcload/target=ipc/frames=%s/mode=%s/conns=%d/inflight=%d", o.frames, mode, conns, o.workers)
	for range o.count {
		var r perf.Result
		if o.stream {
			r = runIPCPipelined(ctx, o, name, clients, msg)
		} else {
			r = perf.Run(ctx, perf.Config{Name: name, Workers: o.workers, Duration: o.duration, Warmup: o.warmup, Rate: o.rate}, func(i int) perf.Op {
				c := clients[i%conns]
				return func(ctx context.Context) error {
					ans, err := c.Execute(ctx, msg)
					if err != nil {
						return err
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

// runIPCPipelined keeps workers/conns requests in flight per connection,
// from one submitting goroutine each.
func runIPCPipelined(ctx context.Context, o options, name string, clients []*ipc.Client, msg []byte) perf.Result {
	window := max(o.workers/len(clients), 1)
	return runPhase(ctx, o, name, len(clients), func(ctx context.Context, p *phase, i int) {
		c := clients[i]
		credits := make(chan struct{}, window)
		for range window {
			credits <- struct{}{}
		}
		for ctx.Err() == nil {
			select {
			case <-credits:
			case <-ctx.Done():
				continue
			}
			t := time.Now()
			err := c.Submit(msg, func(ans []byte, err error) {
				if err == nil {
					err = answerErr(ans)
				}
				p.answered(t, err)
				credits <- struct{}{}
			})
			if err != nil {
				p.fail(err)
				return
			}
		}
		for range window { // wait for the answers still out
			<-credits
		}
	})
}

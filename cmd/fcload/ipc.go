package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/femtoclaw/femtoclaw-go/ipc"
	"github.com/femtoclaw/femtoclaw-go/perf"
)

// openIPC drives a server over its shared-memory ring (package ipc), or
// with -frames socket over the same socket with the same frames and no
// ring (the comparison the ring is measured against): -conns connections
// (one region each). Closed loop: -workers goroutines share them, each
// calling Execute. With -stream: one goroutine per connection keeps
// -workers/-conns requests in flight with Submit, the pipelined shape;
// latency is from a request's submission to its answer.
func openIPC(ctx context.Context, o options) (*target, error) {
	path, err := ringSocket(o)
	if err != nil {
		return nil, err
	}
	calls, err := perf.ParseMix(o.mix, mixOptions(o, remoteSlowMessage(o.slowDelay), ""))
	if err != nil {
		return nil, usageError{err.Error()}
	}
	conns := o.conns
	clients := make([]*ipc.Client, 0, conns)
	t := &target{close: func() {
		for _, c := range clients {
			c.Close()
		}
	}}
	ccfg := ipc.ClientConfig{MaxInFlight: o.workers, SocketFrames: o.frames == "socket", Spin: o.spin}
	for range conns {
		c, err := ipc.Dial(ctx, path, ccfg)
		if err != nil {
			t.close()
			return nil, err
		}
		clients = append(clients, c)
	}
	mode := "execute"
	if o.stream {
		mode = "pipelined"
	}
	t.name = fmt.Sprintf("Fcload/target=ipc/frames=%s/mode=%s/conns=%d/inflight=%d", o.frames, mode, conns, o.workers)
	t.calls = calls
	t.workload = perf.Workload{Target: "ipc", Transport: o.frames, Conns: conns, Config: map[string]string{"mode": mode, "socket": path}}
	t.server = probeFor(o, path, sameSocket(path))
	t.dataDir = t.server.dataDir
	t.check = func(ctx context.Context, c *perf.Call) error {
		ans, err := clients[0].Execute(ctx, c.Message)
		if err != nil {
			return classifyIPC(err)
		}
		return c.CheckBytes(ans)
	}
	if !o.stream {
		t.run = func(ctx context.Context, pc perf.Config) perf.Result {
			return perf.RunMix(ctx, pc, func(i int) perf.MixOp {
				c := clients[i%conns]
				return func(ctx context.Context, entry int) error {
					ans, err := c.Execute(ctx, calls[entry].Message)
					if err != nil {
						return classifyIPC(err)
					}
					return calls[entry].CheckBytes(ans)
				}
			})
		}
		return t, nil
	}
	t.run = func(ctx context.Context, pc perf.Config) perf.Result {
		fresh := make([]bool, conns) // the first pipe of a connection uses its client; later ones dial again
		return perf.RunPipelined(ctx, pc, conns, func(ctx context.Context, i int) (perf.Pipe, error) {
			if fresh[i] {
				c, err := ipc.Dial(ctx, path, ccfg)
				if err != nil {
					return nil, classifyIPC(err)
				}
				clients[i].Close()
				clients[i] = c
			}
			fresh[i] = true
			return &ringPipe{c: clients[i], calls: calls}, nil
		})
	}
	return t, nil
}

// classifyIPC names the ring's failures: the server gone or the client
// closed ("closed"), a refused handshake or no server on the socket
// ("refused").
func classifyIPC(err error) error {
	switch {
	case errors.Is(err, ipc.ErrRefused), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ENOENT): // no server on the socket
		return perf.Fail(perf.CategoryRefused, err)
	case errors.Is(err, net.ErrClosed): // ipc.ErrPeerGone, ipc.ErrClosed
		return perf.Fail(perf.CategoryClosed, err)
	}
	return err
}

// ringPipe submits on one ring connection; the client's reader goroutine
// completes each request.
type ringPipe struct {
	c     *ipc.Client
	calls []perf.Call
}

func (p *ringPipe) Send(entry int, done func(error)) error {
	c := &p.calls[entry]
	if err := p.c.Submit(c.Message, func(ans []byte, err error) {
		if err != nil {
			done(classifyIPC(err))
			return
		}
		done(c.CheckBytes(ans))
	}); err != nil {
		return classifyIPC(err)
	}
	return nil
}

// Close sends nothing more; the requests out complete through the client
// (its Close, after the run, fails those a gone server never answers).
func (p *ringPipe) Close() {}

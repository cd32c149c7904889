package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/femtoclaw/femtoclaw-go/perf"
	"github.com/femtoclaw/femtoclaw-go/protocol"
	"github.com/femtoclaw/femtoclaw-go/transport"
)

// openRemote drives a server over HTTP/3 (-target h3: the one the data
// directory's run.json names; or -target URL): -workers requests in flight
// spread over -conns connections (one Go client each), through
// POST /v1/execute, or with -stream through POST /v1/stream with
// -workers/-conns messages pipelined on each connection's stream.
func openRemote(o options) (*target, error) {
	if err := resolveRemote(&o); err != nil {
		return nil, err
	}
	calls, err := perf.ParseMix(o.mix, mixOptions(o, remoteSlowMessage(o.slowDelay), ""))
	if err != nil {
		return nil, usageError{err.Error()}
	}
	token, err := readToken(o)
	if err != nil {
		return nil, err
	}
	conns := o.conns
	clients := make([]*transport.Client, conns)
	t := &target{close: func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	}}
	for i := range clients {
		c, err := transport.NewClient(o.target, transport.ClientConfig{Token: token, SPKIPin: o.pin, CAFile: o.caFile})
		if err != nil {
			t.close()
			return nil, err
		}
		clients[i] = c
	}
	mode := "execute"
	if o.stream {
		mode = "stream"
	}
	t.name = fmt.Sprintf("Fcload/target=h3/mode=%s/conns=%d/inflight=%d", mode, conns, o.workers)
	t.calls = calls
	t.workload = perf.Workload{Target: "h3", Transport: mode, Conns: conns, Config: map[string]string{"url": o.target}}
	t.server = probeFor(o, o.target, sameHTTP3(o.target))
	t.dataDir = t.server.dataDir
	t.check = func(ctx context.Context, c *perf.Call) error {
		status, ans, err := clients[0].Execute(ctx, c.Message, "")
		if err != nil {
			return classifyQUIC(err)
		}
		return checkHTTP(c, status, ans)
	}
	if !o.stream {
		t.run = func(ctx context.Context, pc perf.Config) perf.Result {
			return perf.RunMix(ctx, pc, func(i int) perf.MixOp {
				c := clients[i%conns]
				return func(ctx context.Context, entry int) error {
					status, ans, err := c.Execute(ctx, calls[entry].Message, "")
					if err != nil {
						return classifyQUIC(err)
					}
					return checkHTTP(&calls[entry], status, ans)
				}
			})
		}
		return t, nil
	}
	t.run = func(ctx context.Context, pc perf.Config) perf.Result {
		return perf.RunPipelined(ctx, pc, conns, func(ctx context.Context, i int) (perf.Pipe, error) {
			st, err := clients[i].Stream(ctx)
			if err != nil {
				return nil, classifyQUIC(err)
			}
			p := &streamPipe{st: st, calls: calls, q: make(chan streamed, max(o.workers/conns, 1))}
			p.wg.Go(p.receive)
			return p, nil
		})
	}
	return t, nil
}

// checkHTTP checks an answer received with an HTTP status: a body that is
// no answer is categorized by the status (http_4xx, http_5xx), else the
// answer is checked as any other.
func checkHTTP(c *perf.Call, status int, body []byte) error {
	a, err := protocol.ParseAnswer(body)
	if err != nil {
		switch {
		case status >= 500:
			return perf.Fail(perf.CategoryHTTP5xx, fmt.Errorf("%s: status %d: %s", c.Name, status, perf.Clip(body)))
		case status >= 400:
			return perf.Fail(perf.CategoryHTTP4xx, fmt.Errorf("%s: status %d: %s", c.Name, status, perf.Clip(body)))
		}
		return c.CheckBytes(body)
	}
	return c.Check(a)
}

// classifyQUIC names the transport failures of an HTTP/3 call: the
// server closing the connection, a stream or connection reset, a refused
// handshake; timeouts and the rest as perf.CategoryOf says.
func classifyQUIC(err error) error {
	var (
		app   *quic.ApplicationError
		tr    *quic.TransportError
		sr    *quic.StatelessResetError
		se    *quic.StreamError
		h3err *http3.Error
	)
	switch {
	case errors.Is(err, transport.ErrServerClosed):
		return perf.Fail(perf.CategoryClosed, err)
	case errors.As(err, &app):
		if app.Remote {
			return perf.Fail(perf.CategoryClosed, err)
		}
		return perf.Fail(perf.CategoryReset, err)
	case errors.As(err, &tr):
		if tr.ErrorCode == quic.ConnectionRefused {
			return perf.Fail(perf.CategoryRefused, err)
		}
		return perf.Fail(perf.CategoryReset, err)
	case errors.As(err, &sr), errors.As(err, &se), errors.As(err, &h3err):
		return perf.Fail(perf.CategoryReset, err)
	}
	return err // perf.CategoryOf: timeouts, refused, closed, transport
}

// streamPipe is one /v1/stream: the sender frames messages, the receiver
// reads the answers in order and completes each request.
type streamPipe struct {
	st     *transport.Stream
	calls  []perf.Call
	q      chan streamed // sent, awaiting their answers, in order
	wg     sync.WaitGroup
	broken atomic.Pointer[error] // the receiver's failure: nothing more can be sent
}

type streamed struct {
	entry int
	done  func(error)
}

func (p *streamPipe) Send(entry int, done func(error)) error {
	if err := p.broken.Load(); err != nil {
		return *err
	}
	if err := p.st.Send(p.calls[entry].Message); err != nil {
		return classifyQUIC(err)
	}
	p.q <- streamed{entry, done} // never blocks: the window bounds what is in flight
	return nil
}

// Close ends the request side and waits for the receiver, which
// completes every request sent (with the stream's error once it failed,
// as it does when its context ends).
func (p *streamPipe) Close() {
	close(p.q)
	p.st.CloseSend()
	go func() { p.wg.Wait(); p.st.Close() }()
}

func (p *streamPipe) receive() {
	var failed error
	for s := range p.q {
		if failed != nil {
			s.done(failed)
			continue
		}
		ans, err := p.st.Recv()
		if err != nil {
			failed = classifyQUIC(err)
			p.broken.Store(&failed)
			s.done(failed)
			continue
		}
		s.done(p.calls[s.entry].CheckBytes(ans))
	}
}

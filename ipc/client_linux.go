package ipc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Client is one connection to a Server: a region shared with it and the
// socket that keeps it alive. It is safe for concurrent use by any number
// of goroutines, which share the connection. The caller must call Close
// (or Shutdown).
//
// Concurrency design:
//
//  1. Submission is combining, not locking: a caller pushes its call on a
//     lock-free stack (head) and then tries to become the writer
//     (writing, a CAS). The writer takes the whole stack, writes it into
//     the request ring oldest first, publishes head once and rings the
//     server; a caller that finds a writer active leaves its call for it.
//     A writer that finished re-checks the stack, so no call is stranded.
//  2. Matching: a call sits in slots[id & mask] from before it is written
//     until its answer (or failure) is delivered. Whoever swaps it out of
//     the slot (the reader on an answer, the failure sweep, an abandoning
//     Execute) delivers or drops it: exactly once.
//  3. One reader goroutine (owned by the Client) consumes the response
//     ring, copies each answer out, releases the space once per batch and
//     rings the server if it is parked.
//  4. One watcher goroutine (owned by the Client) reads the socket; its
//     EOF means the server is gone: every call in a slot fails with
//     ErrPeerGone, and so does every later one.
//  5. The region is unmapped by Close only after the reader and watcher
//     have returned and Close holds the writer role for good.
type Client struct {
	cfg       ClientConfig
	uc        *net.UnixConn
	mem       []byte
	g         geometry
	principal string

	req   *ring // producer: the writer only
	resp  *ring // consumer: the reader goroutine only
	peer  doorbell
	wait  waiter // the reader's (and a writer's) own doorbell
	state *atomic.Uint32

	head     atomic.Pointer[call]
	writing  atomic.Bool
	slots    []atomic.Pointer[call]
	mask     uint64
	ids      atomic.Uint64
	inflight atomic.Int64
	max      int64
	space    chan struct{}
	waiters  atomic.Int32

	stream bool   // frames over the socket (ClientConfig.SocketFrames)
	wbuf   []byte // stream: the writer's batch

	err         atomic.Pointer[error] // first terminal error
	closing     atomic.Bool
	readerDone  chan struct{}
	watcherDone chan struct{}
}

type call struct {
	id    uint64
	flags uint32 // FlagKeyed when msg carries a key prefix
	msg   []byte
	done  func(answer []byte, err error)
	ch    chan result
	next  *call
}

type result struct {
	answer []byte
	err    error
}

// Dial connects to the server listening on path, completes the handshake
// and maps the region. Errors wrap ErrRefused (the server said no, with
// its reason), ErrVersion or ErrBadRegion.
func Dial(ctx context.Context, path string, cfg ClientConfig) (*Client, error) {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, cfg.HandshakeTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("ipc: dial %s: %w", path, err)
	}
	uc := nc.(*net.UnixConn)
	if dl, ok := ctx.Deadline(); ok {
		uc.SetDeadline(dl)
	}
	features := knownFeatures &^ FeatureSocketFrames
	if cfg.SocketFrames {
		features |= FeatureSocketFrames
	}
	if _, err := uc.Write(encodeHello(features)); err != nil {
		uc.Close()
		return nil, fmt.Errorf("ipc: handshake: %w", err)
	}
	status, text, fd, err := readReply(uc)
	if err != nil {
		uc.Close()
		return nil, err
	}
	if status != statusAccepted {
		if fd >= 0 {
			unix.Close(fd)
		}
		uc.Close()
		kind := ErrRefused
		if status == statusVersion {
			kind = ErrVersion
		}
		return nil, fmt.Errorf("%w: %s", kind, text)
	}
	if cfg.SocketFrames {
		if fd >= 0 {
			unix.Close(fd)
		}
		uc.SetDeadline(time.Time{})
		return newStreamClient(cfg, uc, text), nil
	}
	if fd < 0 {
		uc.Close()
		return nil, fmt.Errorf("%w: the server accepted but passed no region", ErrBadRegion)
	}
	mem, g, err := mapRegion(fd)
	unix.Close(fd)
	if err != nil {
		uc.Close()
		return nil, err
	}
	uc.SetDeadline(time.Time{})
	c := &Client{cfg: cfg, uc: uc, mem: mem, g: g, principal: text, max: int64(cfg.MaxInFlight),
		space: make(chan struct{}, 1), readerDone: make(chan struct{}), watcherDone: make(chan struct{})}
	c.req = newRing(mem, g.reqCtl, g.reqData, g.reqSize, g.maxFrame)
	c.resp = newRing(mem, g.respCtl, g.respData, g.respSize, g.maxFrame)
	c.peer = newDoorbell(mem, offServerBell)
	c.wait = waiter{bell: newDoorbell(mem, offClientBell), spin: cfg.Spin, timeout: cfg.parkTimeout}
	c.state = (*atomic.Uint32)(unsafe.Pointer(&mem[offServerState]))
	c.initSlots()
	go c.read()  // owned by the Client: ends on a terminal error; Close waits
	go c.watch() // owned by the Client: ends at EOF or Close; Close waits
	return c, nil
}

func (c *Client) initSlots() {
	n := uint64(1)
	for n < 2*uint64(c.cfg.MaxInFlight) {
		n <<= 1
	}
	c.slots = make([]atomic.Pointer[call], n)
	c.mask = n - 1
}

// newStreamClient is a client whose frames travel over the socket.
func newStreamClient(cfg ClientConfig, uc *net.UnixConn, principal string) *Client {
	c := &Client{cfg: cfg, uc: uc, principal: principal, max: int64(cfg.MaxInFlight), stream: true,
		g:     geometry{maxFrame: streamMaxFrame},
		space: make(chan struct{}, 1), readerDone: make(chan struct{}), watcherDone: make(chan struct{})}
	close(c.watcherDone) // the reader sees EOF itself
	c.initSlots()
	go c.readStream() // owned by the Client: ends at EOF or Close; Close waits
	return c
}

// Principal returns the principal the server mapped this process to.
func (c *Client) Principal() string { return c.principal }

// MaxFrame returns the largest message (and answer) the region carries.
func (c *Client) MaxFrame() int { return int(c.g.maxFrame) }

// Execute sends one protocol message and waits for its answer (the JSON
// object every transport returns). A context that ends first abandons
// the wait (the request may still run; its answer is dropped). msg is not
// retained after Execute returns.
func (c *Client) Execute(ctx context.Context, msg []byte) ([]byte, error) {
	return c.ExecuteKey(ctx, "", msg)
}

// ExecuteKey is Execute with an idempotency key (none when key is empty):
// a retry with the same key and the same call gets the first answer again,
// marked "replayed":true, and runs nothing (see package pipeline).
func (c *Client) ExecuteKey(ctx context.Context, key string, msg []byte) ([]byte, error) {
	k := &call{msg: msg, ch: make(chan result, 1)}
	if err := k.setKey(key); err != nil {
		return nil, err
	}
	if err := c.start(ctx, k); err != nil {
		return nil, err
	}
	select {
	case r := <-k.ch:
		return r.answer, r.err
	case <-ctx.Done():
		if c.slots[k.id&c.mask].CompareAndSwap(k, nil) {
			c.release()
		}
		return nil, ctx.Err()
	}
}

// Submit sends one protocol message and returns without waiting; done is
// called exactly once with the answer or an error, on the client's reader
// goroutine (it must not block, nor call Close or Shutdown, which wait for
// that goroutine). msg must not be modified until done runs. Submit blocks only while the client has MaxInFlight unanswered
// requests, or the request ring is full.
func (c *Client) Submit(msg []byte, done func(answer []byte, err error)) error {
	return c.SubmitKey("", msg, done)
}

// SubmitKey is Submit with an idempotency key (none when key is empty).
func (c *Client) SubmitKey(key string, msg []byte, done func(answer []byte, err error)) error {
	k := &call{msg: msg, done: done}
	if err := k.setKey(key); err != nil {
		return err
	}
	return c.start(context.Background(), k)
}

// setKey puts key's prefix before the message (a copy: the caller's msg
// is not touched).
func (k *call) setKey(key string) error {
	if key == "" {
		return nil
	}
	if len(key) > maxKeyLen {
		return fmt.Errorf("%w: an idempotency key of %d bytes (at most %d)", ErrTooLarge, len(key), maxKeyLen)
	}
	k.msg, k.flags = appendKeyed(make([]byte, 0, 2+len(key)+len(k.msg)), key, k.msg), FlagKeyed
	return nil
}

func (c *Client) start(ctx context.Context, k *call) error {
	if p := c.err.Load(); p != nil {
		return *p
	}
	if len(k.msg) > int(c.g.maxFrame) {
		return fmt.Errorf("%w: %d bytes, max frame %d", ErrTooLarge, len(k.msg), c.g.maxFrame)
	}
	if c.state != nil && c.state.Load() != serverServing {
		return fmt.Errorf("%w: the server is shutting down", ErrPeerGone)
	}
	if err := c.acquire(ctx); err != nil {
		return err
	}
	for {
		k.id = c.ids.Add(1)
		if c.slots[k.id&c.mask].CompareAndSwap(nil, k) {
			break
		}
	}
	if p := c.err.Load(); p != nil { // the failure sweep may have missed the slot
		if c.slots[k.id&c.mask].CompareAndSwap(k, nil) {
			c.release()
			return *p
		}
		return nil // the sweep took it and delivers the error
	}
	for {
		old := c.head.Load()
		k.next = old
		if c.head.CompareAndSwap(old, k) {
			break
		}
	}
	c.writeAll()
	return nil
}

// acquire takes an in-flight slot, waiting while MaxInFlight are out.
func (c *Client) acquire(ctx context.Context) error {
	for {
		if c.inflight.Add(1) <= c.max {
			return nil
		}
		c.inflight.Add(-1)
		c.waiters.Add(1)
		if c.inflight.Load() >= c.max {
			select {
			case <-c.space:
			case <-ctx.Done():
				c.waiters.Add(-1)
				return ctx.Err()
			}
		}
		c.waiters.Add(-1)
		if p := c.err.Load(); p != nil {
			return *p
		}
	}
}

func (c *Client) release() {
	c.inflight.Add(-1)
	if c.waiters.Load() > 0 {
		select {
		case c.space <- struct{}{}:
		default:
		}
	}
}

// writeAll is the combining writer (design note 1).
func (c *Client) writeAll() {
	for {
		if !c.writing.CompareAndSwap(false, true) {
			return
		}
		list := c.head.Swap(nil)
		var rev *call
		for list != nil {
			next := list.next
			list.next = rev
			rev, list = list, next
		}
		if c.stream {
			c.writeStream(rev)
			c.writing.Store(false)
			if c.head.Load() == nil || c.err.Load() != nil {
				return
			}
			continue
		}
		for k := rev; k != nil; k = k.next {
			if !c.writeOne(k) {
				break // terminal: the sweep fails what is left in the slots
			}
			k.msg = nil
		}
		if c.req.publish() {
			c.peer.ring()
		}
		c.writing.Store(false)
		if c.head.Load() == nil || c.err.Load() != nil {
			return
		}
	}
}

// writeOne writes one call into the request ring, waiting for space.
func (c *Client) writeOne(k *call) bool {
	for {
		if c.err.Load() != nil {
			return false
		}
		ok, err := c.req.write(k.id, k.flags, k.msg)
		if err != nil {
			c.fail(fmt.Errorf("%w: %v", ErrPeerGone, err))
			return false
		}
		if ok {
			return true
		}
		if c.req.publish() {
			c.peer.ring()
		}
		need := frameSize(uint64(len(k.msg)))
		c.wait.wait(func() bool {
			return c.err.Load() != nil || c.req.refreshTail() != nil || c.req.free() >= need
		})
	}
}

// read is the reader goroutine (design note 3).
func (c *Client) read() {
	defer close(c.readerDone)
	var f frame
	ready := func() bool {
		if c.err.Load() != nil {
			return true
		}
		ok, err := c.resp.available()
		return ok || err != nil
	}
	for {
		n := 0
		for n < 1024 {
			ok, err := c.resp.next(&f, nil)
			if err != nil {
				c.fail(fmt.Errorf("%w: %v", ErrPeerGone, err))
				break
			}
			if !ok {
				break
			}
			n++
			c.deliver(&f)
		}
		if n > 0 {
			if c.resp.release() {
				c.peer.ring()
			}
			continue
		}
		if p := c.err.Load(); p != nil {
			c.sweep(*p)
			return
		}
		c.wait.wait(ready)
	}
}

func (c *Client) deliver(f *frame) {
	slot := &c.slots[f.id&c.mask]
	k := slot.Load()
	if k == nil || k.id != f.id || !slot.CompareAndSwap(k, nil) {
		return // abandoned by its caller, or an id we never sent
	}
	c.release()
	var r result
	if f.oversize {
		r.err = fmt.Errorf("%w: an answer of %d bytes over the max frame", ErrTooLarge, f.length)
	} else {
		r.answer = f.payload
	}
	if k.done != nil {
		k.done(r.answer, r.err)
	} else {
		k.ch <- r
	}
}

// sweep fails every call still in a slot.
func (c *Client) sweep(err error) {
	for i := range c.slots {
		if k := c.slots[i].Swap(nil); k != nil {
			c.release()
			if k.done != nil {
				k.done(nil, err)
			} else {
				k.ch <- result{err: err}
			}
		}
	}
}

// fail records the first terminal error and wakes every waiter.
func (c *Client) fail(err error) {
	if c.err.CompareAndSwap(nil, &err) {
		if !c.stream {
			c.wait.bell.wake()
		}
		select {
		case c.space <- struct{}{}:
		default:
		}
	}
}

func (c *Client) watch() {
	defer close(c.watcherDone)
	var b [64]byte
	for {
		if _, err := c.uc.Read(b[:]); err != nil {
			break
		}
	}
	if c.closing.Load() {
		c.fail(ErrClosed)
	} else {
		c.fail(ErrPeerGone)
	}
}

// InFlight returns the number of requests sent and not yet answered.
func (c *Client) InFlight() int { return int(c.inflight.Load()) }

// Shutdown stops taking requests, waits until those in flight are
// answered or ctx ends, then closes. A second call returns ErrClosed.
func (c *Client) Shutdown(ctx context.Context) error {
	if c.closing.Load() {
		return ErrClosed
	}
	t := time.NewTicker(time.Millisecond)
	for c.inflight.Load() > 0 && c.err.Load() == nil && ctx.Err() == nil {
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
	t.Stop()
	err := c.Close()
	if ctx.Err() != nil && err == nil {
		return fmt.Errorf("ipc: requests still in flight at shutdown: %w", ctx.Err())
	}
	return err
}

// Close fails every unanswered request with ErrClosed, closes the
// socket and unmaps the region. A second call returns ErrClosed.
func (c *Client) Close() error {
	if c.closing.Swap(true) {
		return ErrClosed
	}
	c.fail(ErrClosed)
	c.uc.Close()
	<-c.watcherDone
	<-c.readerDone
	for !c.writing.CompareAndSwap(false, true) { // a writer sees the error and stops
		runtime.Gosched()
	}
	c.sweep(ErrClosed)
	if c.mem != nil {
		unix.Munmap(c.mem)
	}
	return nil
}

// IsClosed reports whether err means the connection is over (closed here
// or by the server).
func IsClosed(err error) bool { return errors.Is(err, net.ErrClosed) }

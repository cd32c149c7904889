package ipc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/femtoclaw/femtoclaw-go/pipeline"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// Server is the shared-memory face of an Executor: a unix socket for the
// handshake and liveness, and one region (a request ring and a response
// ring) per connected client. Its methods are safe for concurrent use.
// Lifecycle: NewServer → Start → Shutdown or Close, which the owner must
// call; the Executor is the caller's and is closed after.
//
// Goroutines, all owned by the Server and counted in wg:
//
//  1. the accept loop (Start → listener closed);
//  2. per client, its poller (handshake, then the ring loop, then
//     teardown), which is the only goroutine touching that client's
//     request-ring consumer and response-ring producer;
//  3. per client, a socket watcher that reads until EOF: the liveness
//     signal. It ends before the poller unmaps the region.
//  4. per client, a sleeper that sleeps on the server doorbell's futex
//     while the poller is parked (see conn.park). Stopped and waited for
//     before the region is unmapped.
//
// Invariants:
//
//  1. A region is unmapped only by its poller, after its watcher has
//     returned and no Submit callback for it is still running
//     (conn.outstanding is zero with conn.dead set): nothing in this
//     process touches the mapping after.
//  2. The poller never blocks on anything but its own futex (bounded by
//     parkTimeout) and the end of outstanding callbacks during teardown:
//     a client that stops reading fills its response ring, the poller
//     stops reading its requests past MaxInFlight, and no other client,
//     nor the pipeline, waits for it.
//  3. Submit callbacks never block and never touch the region: they
//     encode the answer, push it on the connection's lock-free completion
//     stack and, if the poller is parked (conn.local), wake it through a
//     channel.
//  4. Memory held for one client is bounded: its region, plus at most
//     MaxInFlight requests and answers of at most MaxFrame bytes each.
type Server struct {
	cfg ServerConfig
	ex  Executor
	log *slog.Logger
	uid uint32

	closing    atomic.Bool
	accepted   atomic.Uint64
	refused    atomic.Uint64
	violations atomic.Uint64
	parks      atomic.Uint64
	logGate    logLimiter

	mu struct {
		sync.Mutex
		ln      *net.UnixListener
		started bool
		closed  bool
		conns   map[*conn]struct{}
	}
	wg sync.WaitGroup
}

// NewServer validates cfg and builds a server. It opens nothing: Start
// does.
func NewServer(cfg ServerConfig, ex Executor) (*Server, error) {
	if ex == nil {
		return nil, errors.New("ipc: nil Executor")
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, ex: ex, log: cfg.Logger, uid: uint32(os.Getuid())}
	s.mu.conns = map[*conn]struct{}{}
	return s, nil
}

// Path returns the socket path.
func (s *Server) Path() string { return s.cfg.Path }

// Start listens on the socket and begins accepting clients. A stale
// socket file (no server answers on it) is replaced.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return ErrClosed
	}
	if s.mu.started {
		return errors.New("ipc: server already started")
	}
	if err := removeStale(s.cfg.Path); err != nil {
		return err
	}
	// bind creates the socket with the process umask; it is set to Mode
	// at once. (Connecting needs write permission, which a usual umask
	// withholds from group and others until then; peer credentials decide
	// the principal either way.)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: s.cfg.Path, Net: "unix"})
	if err != nil {
		return fmt.Errorf("ipc: listen %s: %w", s.cfg.Path, err)
	}
	if err := os.Chmod(s.cfg.Path, s.cfg.Mode); err != nil {
		ln.Close()
		return fmt.Errorf("ipc: chmod %s: %w", s.cfg.Path, err)
	}
	ln.SetUnlinkOnClose(true)
	s.mu.ln, s.mu.started = ln, true
	s.wg.Go(func() { s.acceptLoop(ln) })
	return nil
}

// removeStale removes path if it is a socket nobody answers on.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ipc: %w", err)
	}
	if fi.Mode()&fs.ModeSocket == 0 {
		return fmt.Errorf("ipc: %s exists and is not a socket", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("ipc: %s is in use by a running server", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("ipc: remove stale socket: %w", err)
	}
	return nil
}

func (s *Server) acceptLoop(ln *net.UnixListener) {
	for {
		uc, err := ln.AcceptUnix()
		if err != nil {
			if s.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("ipc accept failed", "err", err)
			time.Sleep(10 * time.Millisecond) // EMFILE and the like: do not spin
			continue
		}
		s.wg.Go(func() { s.serve(uc) })
	}
}

// Shutdown stops accepting clients, answers requests that arrive from now
// on with RUNTIME_ERROR "shutting_down", waits until every connected
// client's in-flight requests are answered into its ring (or ctx ends,
// then it closes like Close), and closes the connections. A second call
// returns ErrClosed.
func (s *Server) Shutdown(ctx context.Context) error {
	conns, err := s.stop()
	if err != nil {
		return err
	}
	for _, c := range conns {
		c.drain()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }() // ends when every goroutine of wg has
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		for _, c := range conns {
			c.kill()
		}
		return fmt.Errorf("ipc: clients still busy at shutdown: %w", ctx.Err())
	}
}

// Close closes the listener and every connection now; requests in flight
// still run in the pipeline, their answers are dropped. It does not wait
// for them. A second call returns ErrClosed.
func (s *Server) Close() error {
	conns, err := s.stop()
	if err != nil {
		return err
	}
	for _, c := range conns {
		c.kill()
	}
	return nil
}

func (s *Server) stop() ([]*conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return nil, ErrClosed
	}
	s.mu.closed = true
	s.closing.Store(true)
	if s.mu.ln != nil {
		s.mu.ln.Close()
	}
	conns := make([]*conn, 0, len(s.mu.conns))
	for c := range s.mu.conns {
		conns = append(conns, c)
	}
	return conns, nil
}

// ServerStats counts handshakes and disconnections for protocol
// violations.
type ServerStats struct {
	Accepted   uint64 // handshakes that got a region (or socket framing)
	Refused    uint64 // handshakes refused (unmapped peer, version, busy, closing)
	Violations uint64 // clients disconnected for breaking the ring protocol
	Parks      uint64 // times a connected client's poller went to sleep (spin exhausted)
	Clients    int    // connected now
}

// Stats returns the server's counters.
func (s *Server) Stats() ServerStats {
	s.mu.Lock()
	n := len(s.mu.conns)
	s.mu.Unlock()
	return ServerStats{Accepted: s.accepted.Load(), Refused: s.refused.Load(), Violations: s.violations.Load(), Parks: s.parks.Load(), Clients: n}
}

// principalOf maps peer credentials to a principal ("" when unmapped).
func (s *Server) principalOf(uid, gid uint32) string {
	if p, ok := s.cfg.UIDs[uid]; ok {
		return p
	}
	if p, ok := s.cfg.GIDs[gid]; ok {
		return p
	}
	if uid == s.uid {
		return s.cfg.OwnerPrincipal
	}
	return ""
}

// serve runs one client: handshake, then its poller.
func (s *Server) serve(uc *net.UnixConn) {
	c, ok := s.handshake(uc)
	if !ok {
		uc.Close()
		return
	}
	if c.stream {
		s.serveStream(uc, c.principal, c.remote)
	} else {
		c.run()
	}
	s.forget(c)
	if s.cfg.onClientGone != nil {
		s.cfg.onClientGone()
	}
}

func (s *Server) refuse(uc *net.UnixConn, status uint16, text string) {
	s.refused.Add(1)
	uc.Write(encodeReply(status, text))
}

func (s *Server) handshake(uc *net.UnixConn) (*conn, bool) {
	uc.SetDeadline(deadline(s.cfg.HandshakeTimeout))
	cred, err := peerCred(uc)
	if err != nil {
		s.log.Warn("ipc: no peer credentials; connection closed", "err", err)
		return nil, false
	}
	remote := "uid=" + strconv.FormatUint(uint64(cred.Uid), 10) + " gid=" + strconv.FormatUint(uint64(cred.Gid), 10) +
		" pid=" + strconv.FormatInt(int64(cred.Pid), 10)
	hello := make([]byte, helloSize)
	if _, err := readFull(uc, hello); err != nil {
		return nil, false
	}
	if string(hello[:4]) != helloMagic {
		s.refuse(uc, statusMalformed, "not a FemtoClaw ring hello")
		return nil, false
	}
	if v := binary.LittleEndian.Uint16(hello[4:]); v != Version {
		s.refuse(uc, statusVersion, fmt.Sprintf("version %d is not served: this server speaks version %d", v, Version))
		return nil, false
	}
	features := binary.LittleEndian.Uint64(hello[8:])
	if features&FeatureDoorbells == 0 {
		s.refuse(uc, statusVersion, fmt.Sprintf("the client's features %#x lack doorbells (bit 0), which this server requires", features))
		return nil, false
	}
	principal := s.principalOf(cred.Uid, cred.Gid)
	if principal == "" {
		text := "no principal is configured for " + remote + " (ipc uid/gid map)"
		if s.logGate.allow() {
			s.log.Warn("ipc: unmapped peer refused", "category", string(protocol.CategorySecurity),
				"reason", string(protocol.ReasonUnmappedPeer), "remote", remote, "suppressed", s.logGate.takeSuppressed())
		}
		s.ex.RecordSecurityRejection(protocol.ReasonUnmappedPeer, remote, "ring")
		s.refuse(uc, statusUnmapped, text)
		return nil, false
	}
	g := newGeometry(uint64(s.cfg.RequestRing), uint64(s.cfg.ResponseRing), uint32(s.cfg.MaxFrame))
	c := &conn{s: s, uc: uc, principal: principal, remote: remote, max: s.cfg.MaxInFlight, maxFrame: s.cfg.MaxFrame,
		drained: make(chan struct{}), watcherDone: make(chan struct{}),
		wakeCh: make(chan struct{}, 1), rearm: make(chan uint32, 1), sleeperStop: make(chan struct{}), sleeperDone: make(chan struct{})}
	s.mu.Lock()
	switch {
	case s.mu.closed:
		s.mu.Unlock()
		s.refuse(uc, statusClosing, "the server is shutting down")
		return nil, false
	case len(s.mu.conns) >= s.cfg.MaxClients:
		s.mu.Unlock()
		s.refuse(uc, statusBusy, fmt.Sprintf("the server has %d clients, its maximum", s.cfg.MaxClients))
		return nil, false
	}
	s.mu.conns[c] = struct{}{}
	s.mu.Unlock()
	if features&FeatureSocketFrames != 0 {
		if _, err := uc.Write(encodeReply(statusAccepted, principal)); err != nil {
			s.forget(c)
			return nil, false
		}
		uc.SetDeadline(time.Time{})
		s.accepted.Add(1)
		c.stream = true
		return c, true
	}
	fd, mem, err := createRegion(g)
	if err != nil {
		s.forget(c)
		s.log.Error("ipc: cannot create a region", "err", err)
		s.refuse(uc, statusInternal, "the server could not create a region: "+err.Error())
		return nil, false
	}
	c.attach(mem, g)
	_, _, err = uc.WriteMsgUnix(encodeReply(statusAccepted, principal), unix.UnixRights(fd), nil)
	unix.Close(fd)
	if err != nil {
		s.forget(c)
		unix.Munmap(mem)
		return nil, false
	}
	uc.SetDeadline(time.Time{})
	s.accepted.Add(1)
	s.log.Debug("ipc client connected", "remote", remote, "principal", principal)
	return c, true
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.mu.conns, c)
	s.mu.Unlock()
}

func readFull(uc *net.UnixConn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := uc.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// logLimiter lets one log record through per second and counts the rest.
type logLimiter struct {
	last       atomic.Int64
	suppressed atomic.Int64
}

func (l *logLimiter) allow() bool {
	now := time.Now().UnixNano()
	last := l.last.Load()
	if now-last < int64(time.Second) || !l.last.CompareAndSwap(last, now) {
		l.suppressed.Add(1)
		return false
	}
	return true
}

func (l *logLimiter) takeSuppressed() int64 { return l.suppressed.Swap(0) }

// conn is one connected client.
type conn struct {
	s         *Server
	uc        *net.UnixConn
	principal string
	remote    string
	max       int
	maxFrame  int

	mem   []byte
	req   *ring // consumer
	resp  *ring // producer
	peer  doorbell
	wait  waiter       // spin settings, the server doorbell, the park count
	local atomic.Int32 // > 0 while the poller is parked (process memory)
	state *atomic.Uint32

	cq          atomic.Pointer[completion] // pushed by callbacks, taken by the poller
	outq        []*completion              // poller only: answers waiting for ring space
	inflight    int                        // poller only: submitted, answer not yet in the ring
	announced   bool                       // poller only: the draining state is in the header
	stream      bool                       // socket framing: no region, no poller
	outstanding atomic.Int64               // Submit callbacks not yet returned
	dead        atomic.Bool                // the poller is tearing down
	drained     chan struct{}              // closed when outstanding reaches 0 with dead set
	gone        atomic.Bool                // socket EOF, Close, or a violation
	draining    atomic.Bool
	watcherDone chan struct{}
	wakeCh      chan struct{} // wakes a parked poller
	rearm       chan uint32   // the seq a parking poller read, for the sleeper
	sleeperStop chan struct{}
	sleeperDone chan struct{}
}

type completion struct {
	id    uint64
	flags uint32
	body  []byte
	next  *completion
}

func (c *conn) attach(mem []byte, g geometry) {
	c.mem = mem
	c.req = newRing(mem, g.reqCtl, g.reqData, g.reqSize, g.maxFrame)
	c.resp = newRing(mem, g.respCtl, g.respData, g.respSize, g.maxFrame)
	c.peer = newDoorbell(mem, offClientBell)
	c.wait = waiter{bell: newDoorbell(mem, offServerBell), spin: c.s.cfg.Spin, timeout: c.s.cfg.parkTimeout}
	c.state = (*atomic.Uint32)(unsafe.Pointer(&mem[offServerState]))
}

// drain asks the poller to finish in-flight work and close.
func (c *conn) drain() {
	if c.stream {
		c.uc.CloseRead() // the reader stops; answers in flight are still written
		return
	}
	c.draining.Store(true)
	c.wakeLocal()
}

// kill closes the socket; the watcher then wakes the poller.
func (c *conn) kill() {
	c.gone.Store(true)
	c.uc.Close()
}

// wakeLocal wakes the poller if it is parked, through process memory
// only: a peer can neither hide nor fake it.
func (c *conn) wakeLocal() {
	if c.local.Load() > 0 {
		select {
		case c.wakeCh <- struct{}{}:
		default:
		}
	}
}

// park is the poller's wait: spin, then sleep until the client rings the
// doorbell or a completion arrives. The futex sleep is the sleeper
// goroutine's, on the poller's behalf; the poller itself blocks on a
// channel, so a completion (from the journal's goroutine, say) wakes it
// with a goroutine hand-off instead of a futex wake of another thread
// (~35 µs on the project's machine).
//
// The doorbell protocol is unchanged for the client: seq is read before
// parked is raised, the rings are re-checked, and the sleeper waits on
// that seq value, so a ring between the check and the sleep is not lost.
func (c *conn) park(ready func() bool) {
	if c.wait.spinFor(ready) {
		return
	}
	bell := c.wait.bell
	seq := bell.seq.Load()
	bell.parked.Add(1)
	c.local.Add(1)
	if !ready() {
		select {
		case c.rearm <- seq: // full: the sleeper holds an older seq, which wakes it at least as early
		default:
		}
		c.wait.parks.Add(1)
		c.s.parks.Add(1)
		<-c.wakeCh
	}
	c.local.Add(-1)
	bell.parked.Add(^uint32(0))
}

// sleep is the sleeper goroutine: it sleeps on the server doorbell for
// each park of the poller and wakes it.
func (c *conn) sleep() {
	defer close(c.sleeperDone)
	for {
		select {
		case <-c.sleeperStop:
			return
		case seq := <-c.rearm:
			futexWait(c.wait.bell.seq, seq, c.s.cfg.parkTimeout)
			select {
			case c.wakeCh <- struct{}{}:
			default:
			}
		}
	}
}

func (c *conn) watch() {
	defer close(c.watcherDone)
	var b [64]byte
	for {
		n, err := c.uc.Read(b[:])
		if n > 0 && err == nil {
			c.s.log.Warn("ipc: client wrote on the socket after the handshake; closing it", "remote", c.remote)
			break
		}
		if err != nil {
			break
		}
	}
	c.gone.Store(true)
	c.wait.bell.wake()
	select {
	case c.wakeCh <- struct{}{}:
	default:
	}
}

func (c *conn) run() {
	c.s.wg.Go(c.watch)
	c.s.wg.Go(c.sleep)
	defer c.teardown()
	var f frame
	ready := func() bool {
		if c.gone.Load() || c.cq.Load() != nil || (c.draining.Load() && !c.announced) {
			return true
		}
		if c.inflight < c.max {
			if ok, err := c.req.available(); ok || err != nil {
				return true
			}
		}
		if len(c.outq) > 0 {
			if c.resp.refreshTail() != nil || c.resp.free() >= frameSize(uint64(len(c.outq[0].body))) {
				return true
			}
		}
		return false
	}
	for {
		if c.gone.Load() {
			return
		}
		if c.draining.Load() && !c.announced {
			c.announced = true
			c.state.Store(serverDraining)
			c.peer.wake()
		}
		progress := c.collect()
		wrote, err := c.flush()
		if err != nil {
			c.violation(err)
			return
		}
		progress = progress || wrote
		read := 0
		for c.inflight < c.max && read < 1024 {
			ok, err := c.req.next(&f, nil)
			if err != nil {
				c.violation(err)
				return
			}
			if !ok {
				break
			}
			read++
			c.handle(&f)
		}
		if read > 0 {
			progress = true
			if c.req.release() {
				c.peer.ring() // the client may be waiting for request-ring space
			}
		}
		if c.draining.Load() && c.inflight == 0 && c.cq.Load() == nil {
			c.state.Store(serverClosed)
			c.peer.wake()
			return
		}
		if !progress {
			c.park(ready)
		}
	}
}

// handle submits one request frame (or answers it here).
func (c *conn) handle(f *frame) {
	c.inflight++
	switch {
	case f.oversize:
		c.outq = append(c.outq, transportCompletion(f.id, protocol.CategoryProtocol, protocol.ReasonTooLarge,
			fmt.Sprintf("request frame of %d bytes exceeds the max frame of %d", f.length, c.maxFrame)))
		return
	case c.draining.Load():
		c.outq = append(c.outq, transportCompletion(f.id, protocol.CategoryRuntime, protocol.ReasonShuttingDown,
			"the server is shutting down; retry on another instance"))
		return
	}
	key, msg, err := requestOf(f.flags, f.payload)
	if err != nil {
		c.outq = append(c.outq, transportCompletion(f.id, protocol.CategoryProtocol, protocol.ReasonInvalidFrame, err.Error()))
		return
	}
	id := f.id
	c.outstanding.Add(1)
	c.s.ex.Submit(&pipeline.Request{Message: msg, Principal: c.principal, IdempotencyKey: key, Transport: "ring"}, func(a *protocol.Answer) {
		body := a.AppendJSON(make([]byte, 0, 512))
		k := &completion{id: id, body: body}
		if len(body) > c.maxFrame {
			k = transportCompletion(id, protocol.CategoryRuntime, protocol.ReasonTooLarge,
				fmt.Sprintf("the answer of execution %s is %d bytes, over the max frame of %d", a.ExecutionID, len(body), c.maxFrame))
		}
		if !c.dead.Load() {
			for {
				old := c.cq.Load()
				k.next = old
				if c.cq.CompareAndSwap(old, k) {
					break
				}
			}
			c.wakeLocal()
		}
		if c.outstanding.Add(-1) == 0 && c.dead.Load() {
			close(c.drained)
		}
	})
}

// collect moves pushed completions to outq, oldest first.
func (c *conn) collect() bool {
	list := c.cq.Swap(nil)
	if list == nil {
		return false
	}
	start := len(c.outq)
	for k := list; k != nil; k = k.next {
		c.outq = append(c.outq, k)
	}
	for i, j := start, len(c.outq)-1; i < j; i, j = i+1, j-1 {
		c.outq[i], c.outq[j] = c.outq[j], c.outq[i]
	}
	return true
}

// flush writes as many queued answers as fit, publishes once, and rings
// the client.
func (c *conn) flush() (bool, error) {
	n := 0
	for n < len(c.outq) {
		k := c.outq[n]
		ok, err := c.resp.write(k.id, k.flags, k.body)
		if err != nil {
			return false, err
		}
		if !ok {
			break
		}
		c.outq[n] = nil
		n++
	}
	if n == 0 {
		return false, nil
	}
	c.inflight -= n
	c.outq = append(c.outq[:0], c.outq[n:]...)
	if c.resp.publish() {
		c.peer.ring()
	}
	return true, nil
}

func (c *conn) violation(err error) {
	c.s.violations.Add(1)
	c.s.log.Warn("ipc: client broke the ring protocol; connection closed", "category", string(protocol.CategorySecurity),
		"remote", c.remote, "principal", c.principal, "err", err)
}

// teardown closes the connection and frees the region (invariant 1).
func (c *conn) teardown() {
	c.gone.Store(true)
	c.uc.Close()
	<-c.watcherDone
	close(c.sleeperStop)
	c.wait.bell.wake() // out of its futex sleep, if it is in one
	<-c.sleeperDone
	c.dead.Store(true)
	if c.outstanding.Load() != 0 {
		<-c.drained
	}
	c.state.Store(serverClosed)
	unix.Munmap(c.mem)
	c.mem = nil
}

// transportCompletion is an answer the ipc layer makes itself: state
// ERROR, no execution id, decision null, subsystem "ipc".
func transportCompletion(id uint64, cat protocol.Category, reason protocol.Reason, msg string) *completion {
	a := protocol.Answer{State: protocol.StateError, Status: protocol.StatusError, Error: &protocol.Error{
		Category: cat, Severity: protocol.SeverityError, Subsystem: "ipc", Message: msg, Reason: reason, Timestamp: time.Now()}}
	return &completion{id: id, flags: FlagTransport, body: a.AppendJSON(nil)}
}

package ceiling

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/femtoclaw/femtoclaw-go/perf"
	"github.com/femtoclaw/femtoclaw-go/protocol"
	"github.com/femtoclaw/femtoclaw-go/stats"
)

// The ring ceiling's shared region (one memfd, mapped by the client and
// the echo child; little endian, native alignment):
//
//	[0, 4096)        control: stop (u32 @0), spin ns (u64 @8), answer
//	                 length (u32 @16; 0: numbered noop answers), answer
//	                 bytes (@64, ≤ 4000)
//	[4096, +384)     request ring header   (head | tail | seq, sleeping:
//	[4480, +384)     response ring header   three 128-byte lines)
//	[8192, +512 KiB) request slots:  1024 × 512 bytes
//	[.., +512 KiB)   response slots: 1024 × 512 bytes
//
// A slot is a u32 payload length and the payload (≤ 508 bytes). Each ring
// has one producer and one consumer: the producer fills slot head%1024
// and then stores head+1 (publishes); the consumer reads slot tail%1024
// and then stores tail+1 (releases). A consumer with nothing to read
// polls for the spin time, then announces itself (sleeping = 1), checks
// head once more and FUTEX_WAITs on seq; a producer that publishes while
// sleeping is set bumps seq and FUTEX_WAKEs it (Dekker's pattern, on
// sequentially consistent atomics). That is the ipc ring transport's
// shape without its handshake, frame headers, variable-size frames,
// request ids, in-flight table and pipeline.
const (
	ringSlots    = 1024
	ringSlotSize = 512
	ringCtlSize  = 4096
	ringHdrSize  = 3 * 128
	ringDataOff  = 8192
	ringMaxMsg   = ringSlotSize - 4
	ringMaxAns   = ringCtlSize - 64
	ringRegion   = ringDataOff + 2*ringSlots*ringSlotSize
	// parkTimeout bounds one futex wait, so a lost wake-up (there should
	// be none) costs at most this.
	parkTimeout = 10 * time.Millisecond
)

type ringHdr struct {
	head     atomic.Uint64
	_        [120]byte
	tail     atomic.Uint64
	_        [120]byte
	seq      atomic.Uint32
	sleeping atomic.Uint32
	_        [120]byte
}

type ringCtl struct {
	stop   atomic.Uint32
	_      uint32
	spinNs uint64
	ansLen uint32
}

// spsc is one side's view of one ring.
type spsc struct {
	h     *ringHdr
	data  []byte
	local uint64 // producer: head; consumer: tail
	peer  uint64 // producer: last seen tail; consumer: last seen head
}

func (r *spsc) write(p []byte) bool {
	if r.local-r.peer == ringSlots {
		if r.peer = r.h.tail.Load(); r.local-r.peer == ringSlots {
			return false
		}
	}
	off := (r.local % ringSlots) * ringSlotSize
	binary.LittleEndian.PutUint32(r.data[off:], uint32(len(p)))
	copy(r.data[off+4:off+ringSlotSize], p)
	r.local++
	return true
}

func (r *spsc) publish() {
	r.h.head.Store(r.local)
	if r.h.sleeping.Load() != 0 {
		r.h.seq.Add(1)
		futexWake(&r.h.seq)
	}
}

// read returns the next slot's payload (valid until release).
func (r *spsc) read() ([]byte, bool) {
	if r.peer == r.local {
		if r.peer = r.h.head.Load(); r.peer == r.local {
			return nil, false
		}
	}
	off := (r.local % ringSlots) * ringSlotSize
	n := binary.LittleEndian.Uint32(r.data[off:])
	r.local++
	return r.data[off+4 : off+4+uint64(min(n, ringMaxMsg))], true
}

func (r *spsc) release() { r.h.tail.Store(r.local) }

// wait polls the empty ring for spin, then parks on the futex once
// (at most parkTimeout); it returns false when stop is set, else true
// (the ring may still be empty: callers loop).
func (r *spsc) wait(spin time.Duration, stop *atomic.Uint32) bool {
	t0 := time.Now()
	for i := 0; ; i++ {
		if r.h.head.Load() != r.local {
			return true
		}
		if i&63 == 63 {
			if stop.Load() != 0 {
				return false
			}
			if time.Since(t0) > spin {
				break
			}
		}
	}
	seq := r.h.seq.Load()
	r.h.sleeping.Store(1)
	if r.h.head.Load() == r.local && stop.Load() == 0 {
		futexWait(&r.h.seq, seq, parkTimeout)
	}
	r.h.sleeping.Store(0)
	return stop.Load() == 0
}

// Not the _PRIVATE operations: the words are shared between processes.
func futexWait(addr *atomic.Uint32, val uint32, timeout time.Duration) {
	ts := unix.NsecToTimespec(int64(timeout))
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), 0 /* FUTEX_WAIT */, uintptr(val), uintptr(unsafe.Pointer(&ts)), 0, 0)
}

func futexWake(addr *atomic.Uint32) {
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), 1 /* FUTEX_WAKE */, 1, 0, 0, 0)
}

type region struct {
	mem       []byte
	ctl       *ringCtl
	req, resp *ringHdr
}

func mapRegion(f *os.File) (*region, error) {
	mem, err := unix.Mmap(int(f.Fd()), 0, ringRegion, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("ceiling: ring: mmap: %w", err)
	}
	return &region{
		mem:  mem,
		ctl:  (*ringCtl)(unsafe.Pointer(&mem[0])),
		req:  (*ringHdr)(unsafe.Pointer(&mem[ringCtlSize])),
		resp: (*ringHdr)(unsafe.Pointer(&mem[ringCtlSize+ringHdrSize])),
	}, nil
}

func (g *region) rings() (req, resp *spsc) {
	d := g.mem[ringDataOff:]
	return &spsc{h: g.req, data: d[:ringSlots*ringSlotSize]}, &spsc{h: g.resp, data: d[ringSlots*ringSlotSize:]}
}

// RingConfig configures RunRing. Child is required.
type RingConfig struct {
	// InFlight is the number of requests kept in flight by the one
	// submitting goroutine (the window; 1 is a round trip at a time). If
	// zero, defaults to 1; clamped to the ring's 1024 slots.
	InFlight int
	// Duration is the measured phase. If zero, defaults to 2 s.
	Duration time.Duration
	// Warmup runs before it, unmeasured. If zero, defaults to 500 ms;
	// negative means none.
	Warmup time.Duration
	// Spin is how long either side polls an empty ring before it parks
	// on the futex. If zero, defaults to 30 µs (ipc.DefaultSpin).
	Spin time.Duration
	// MaxOps ends the measured phase after this many answers, failed
	// ones included (0: no bound).
	MaxOps int64
	// Message is each request (at most 508 bytes). If nil, defaults to
	// NoopMessage.
	Message []byte
	// Answer, if not empty, is every answer (at most 4000 bytes). If
	// empty, each answer is the next numbered noop answer
	// (AppendNoopAnswer), made by the echo.
	Answer []byte
	// SkipCheck leaves answers unparsed. By default each is checked as
	// fcload checks an answer (protocol.ParseAnswer, status success), so
	// the client's cost is the same on both sides of a ratio.
	SkipCheck bool
	// Child is the echo process to start (argv); it must call ServeRing
	// on its file descriptor 3.
	Child []string
}

func (c RingConfig) withDefaults() RingConfig {
	c.InFlight = min(max(c.InFlight, 1), ringSlots)
	if c.Duration <= 0 {
		c.Duration = 2 * time.Second
	}
	if c.Warmup == 0 {
		c.Warmup = 500 * time.Millisecond
	}
	if c.Spin <= 0 {
		c.Spin = 30 * time.Microsecond
	}
	if c.Message == nil {
		c.Message = NoopMessage
	}
	return c
}

// RunRing starts the echo child on a fresh region and measures one
// repetition: answers, their latency from submission, throughput, and
// the child's CPU time over the measured phase as the server's.
func RunRing(ctx context.Context, cfg RingConfig) (perf.Repetition, error) {
	cfg = cfg.withDefaults()
	switch {
	case len(cfg.Child) == 0:
		return perf.Repetition{}, errors.New("ceiling: ring: no child command")
	case len(cfg.Message) > ringMaxMsg || len(cfg.Message) == 0:
		return perf.Repetition{}, fmt.Errorf("ceiling: ring: message of %d bytes (1 to %d)", len(cfg.Message), ringMaxMsg)
	case len(cfg.Answer) > ringMaxAns:
		return perf.Repetition{}, fmt.Errorf("ceiling: ring: answer of %d bytes (at most %d)", len(cfg.Answer), ringMaxAns)
	}
	fd, err := unix.MemfdCreate("ceiling-ring", unix.MFD_CLOEXEC)
	if err != nil {
		return perf.Repetition{}, fmt.Errorf("ceiling: ring: memfd: %w", err)
	}
	f := os.NewFile(uintptr(fd), "ceiling-ring")
	defer f.Close()
	if err := f.Truncate(ringRegion); err != nil {
		return perf.Repetition{}, err
	}
	g, err := mapRegion(f)
	if err != nil {
		return perf.Repetition{}, err
	}
	defer unix.Munmap(g.mem)
	g.ctl.spinNs = uint64(cfg.Spin)
	g.ctl.ansLen = uint32(len(cfg.Answer))
	copy(g.mem[64:ringCtlSize], cfg.Answer)

	cmd := exec.Command(cfg.Child[0], cfg.Child[1:]...)
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return perf.Repetition{}, fmt.Errorf("ceiling: ring: start echo: %w", err)
	}
	var gone atomic.Uint32 // set when the child has exited
	exited := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		gone.Store(1)
		exited <- err
	}()
	rep, err := ringClient(ctx, cfg, g, cmd.Process.Pid, &gone)
	g.ctl.stop.Store(1)
	g.req.seq.Add(1)
	futexWake(&g.req.seq)
	if werr := <-exited; err == nil && werr != nil {
		err = fmt.Errorf("ceiling: ring: echo: %w", werr)
	}
	return rep, err
}

// ringClient keeps cfg.InFlight requests in flight from this goroutine:
// through the warm-up (answers not counted), the measured phase, and then
// without sending until every answer is back (answers not counted).
func ringClient(ctx context.Context, cfg RingConfig, g *region, child int, gone *atomic.Uint32) (perf.Repetition, error) {
	const (
		warming = iota
		measuring
		draining
	)
	req, resp := g.rings()
	h := stats.NewHistogram(stats.HistogramConfig{SigFigs: 3})
	var (
		first            atomic.Value
		sentAt           [ringSlots]time.Time
		sent, recvd      uint64
		ok, errs         int64
		start, end, last time.Time
		cpu0, cpu        time.Duration
	)
	state, deadline := warming, time.Now().Add(max(cfg.Warmup, 0))
	for i := 0; ; i++ {
		for state != draining && sent-recvd < uint64(cfg.InFlight) && req.write(cfg.Message) {
			sentAt[sent%ringSlots] = time.Now()
			sent++
			req.publish()
		}
		got := false
		for p, more := resp.read(); more; p, more = resp.read() {
			got = true
			var err error
			if !cfg.SkipCheck {
				err = checkAnswer(p)
			}
			resp.release()
			now := time.Now() // after the check, as fcload's latency is
			t := sentAt[recvd%ringSlots]
			recvd++
			switch {
			case state != measuring:
			case err != nil:
				errs++
				first.CompareAndSwap(nil, err.Error())
			default:
				h.Record(int64(now.Sub(t)))
				last = now
				ok++
			}
		}
		if !got && sent != recvd && !resp.wait(cfg.Spin, gone) {
			return perf.Repetition{}, errors.New("ceiling: ring: the echo exited")
		}
		if got && i%16 != 0 {
			continue
		}
		now := time.Now()
		switch {
		case ctx.Err() != nil:
			return perf.Repetition{}, ctx.Err()
		case state == warming && !now.Before(deadline):
			state, start, cpu0 = measuring, now, childCPU(child)
			deadline = now.Add(cfg.Duration)
		case state == measuring && (!now.Before(deadline) || (cfg.MaxOps > 0 && ok+errs >= cfg.MaxOps)):
			state, end, cpu = draining, now, childCPU(child)
		case state == draining && sent == recvd:
			window := last.Sub(start)
			if ok == 0 {
				window = 0
			}
			return repetition(start, end.Sub(start), window, ok, errs, &first, h, cpu-cpu0), nil
		}
	}
}

// checkAnswer is fcload's answer check: a well-formed answer whose
// status is success.
func checkAnswer(p []byte) error {
	a, err := protocol.ParseAnswer(p)
	if err != nil {
		return err
	}
	if a.Status != protocol.StatusSuccess {
		return fmt.Errorf("answer not successful: %.200s", p)
	}
	return nil
}

// childCPU is a process's user+system CPU time from /proc/PID/stat (in
// clock ticks of 10 ms: USER_HZ is 100 on Linux).
func childCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s) // f[0] is field 3 (state); utime, stime are fields 14, 15
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// ServeRing is the echo child: it maps the region f holds and answers
// every request with the region's answer until the client sets stop.
func ServeRing(f *os.File) error {
	g, err := mapRegion(f)
	if err != nil {
		return err
	}
	defer unix.Munmap(g.mem)
	spin := time.Duration(g.ctl.spinNs)
	fixed := append([]byte(nil), g.mem[64:64+min(g.ctl.ansLen, ringMaxAns)]...)
	answer := make([]byte, 0, ringMaxMsg)
	var count uint64
	req, resp := g.rings()
	for {
		n := 0
		for n < 64 {
			if _, ok := req.read(); !ok {
				break
			}
			if count++; len(fixed) > 0 {
				answer = fixed
			} else {
				answer = AppendNoopAnswer(answer[:0], count)
			}
			resp.write(answer) // never full: in flight ≤ slots
			req.release()
			resp.publish()
			n++
		}
		if n > 0 {
			continue
		}
		if !req.wait(spin, &g.ctl.stop) {
			return nil
		}
	}
}

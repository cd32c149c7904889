package ipc

import (
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"
)

// doorbell is one side's futex word pair in the region header (layout.go):
// seq, which the side sleeps on, and parked, the number of its threads
// that are (about to be) asleep. The peer rings it after publishing.
//
// The protocol is Dekker's: the sleeper stores parked then loads the ring
// indices; the waker stores an index then loads parked. With sequentially
// consistent atomics at least one of them sees the other's store, so
// either the sleeper finds the new index and does not sleep, or the waker
// sees parked and wakes it; the seq value passed to FUTEX_WAIT closes the
// window between the sleeper's check and its sleep.
type doorbell struct {
	seq    *atomic.Uint32
	parked *atomic.Uint32
}

func newDoorbell(mem []byte, off int) doorbell {
	return doorbell{seq: (*atomic.Uint32)(unsafe.Pointer(&mem[off])), parked: (*atomic.Uint32)(unsafe.Pointer(&mem[off+4]))}
}

// ring wakes the bell's owner if it declared itself parked. Call it after
// storing head or tail.
func (d doorbell) ring() {
	if d.parked.Load() != 0 {
		d.seq.Add(1)
		futexWake(d.seq)
	}
}

// wake wakes the owner unconditionally (closing, in-process wakers).
func (d doorbell) wake() {
	d.seq.Add(1)
	futexWake(d.seq)
}

// waiter is spin-then-park waiting on one's own doorbell.
type waiter struct {
	bell    doorbell
	spin    time.Duration
	timeout time.Duration
	parks   atomic.Uint64 // futex sleeps taken (tests, metrics)
}

// spinFor polls ready for w.spin and reports whether it held, yielding
// the processor every few rounds so goroutines of this process (the
// journal, a completion, a caller waiting for its answer) run on it.
func (w *waiter) spinFor(ready func() bool) bool {
	if w.spin <= 0 {
		return ready()
	}
	start := time.Now()
	for i := 1; ; i++ {
		if ready() {
			return true
		}
		if i%16 == 0 {
			runtime.Gosched()
			if i%64 == 0 && time.Since(start) > w.spin {
				return false
			}
		}
	}
}

// wait returns when ready() holds, or after at most one futex sleep
// (bounded by timeout).
func (w *waiter) wait(ready func() bool) {
	if w.spinFor(ready) {
		return
	}
	seq := w.bell.seq.Load()
	w.bell.parked.Add(1)
	if !ready() {
		w.parks.Add(1)
		futexWait(w.bell.seq, seq, w.timeout)
	}
	w.bell.parked.Add(^uint32(0))
}

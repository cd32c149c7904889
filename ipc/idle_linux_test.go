package ipc

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuTime returns the CPU time (user + system) of this process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU returns the CPU time of process pid from /proc (clock ticks of
// 10 ms).
func procCPU(t *testing.T, pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// TestIdleCPU: with connected idle clients (other processes), the server
// uses under 1% of a core, and so does each client: both sides park on
// their futex after the spin, and a parked poller wakes only at its
// safety timeout. The window is 10 s (2 s with -short, where process
// start-up noise gets a 2% bound); it is a CPU measurement, so it waits
// on a timer rather than a fake clock. The figure is the whole process,
// the runtime included (see idleFlush). Under the race detector, whose
// runtime inflates every background wake-up, the bound is 2%; the 1% bound
// is checked on a normal build (scripts/test.sh runs this test once
// without -race).
func TestIdleCPU(t *testing.T) {
	window, bound := 10*time.Second, 0.01
	if testing.Short() {
		window, bound = 2*time.Second, 0.02
	}
	if raceEnabled {
		bound = 0.02
	}
	s := startServer(t, ServerConfig{})
	var kids []*child
	for range 4 {
		k := startChild(t, "idle", s.path, func(cmd *exec.Cmd) {
			r, w, err := os.Pipe() // the child waits for EOF on it
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stdin = r
			t.Cleanup(func() { w.Close(); r.Close() })
		})
		k.expect(t, "connected")
		kids = append(kids, k)
	}
	// Let every side finish its spin and park before measuring.
	settle := time.NewTimer(100 * time.Millisecond)
	<-settle.C
	startSelf := cpuTime()
	startKids := make([]time.Duration, len(kids))
	for i, k := range kids {
		startKids[i] = procCPU(t, k.cmd.Process.Pid)
	}
	parks := func() (n uint64, parked int) {
		s.mu.Lock()
		defer s.mu.Unlock()
		for c := range s.mu.conns {
			n += c.wait.parks.Load()
			if c.local.Load() > 0 {
				parked++
			}
		}
		return n, parked
	}
	parks0, _ := parks()
	begin := time.Now()
	<-time.NewTimer(window).C
	elapsed := time.Since(begin)
	used := cpuTime() - startSelf
	parks1, parked := parks()
	if parked != len(kids) {
		t.Errorf("%d of %d pollers parked while their clients idle", parked, len(kids))
	}
	if max := uint64(len(kids)) * uint64(elapsed/time.Second+2); parks1-parks0 > max {
		t.Errorf("%d futex sleeps in %v by %d idle pollers: they wake more often than their 1 s timeout", parks1-parks0, elapsed, len(kids))
	}
	if frac := float64(used) / float64(elapsed); frac >= bound {
		t.Errorf("server process used %v CPU over %v with %d idle clients: %.2f%% of a core, want < %.0f%%", used, elapsed, len(kids), 100*frac, 100*bound)
	}
	for i, k := range kids {
		u := procCPU(t, k.cmd.Process.Pid) - startKids[i]
		if frac := float64(u) / float64(elapsed); frac >= bound {
			t.Errorf("idle client %d used %v CPU over %v: %.2f%% of a core", i, u, elapsed, 100*frac)
		}
	}
	t.Logf("server CPU %v over %v with %d idle clients (%.3f%% of a core)", used, elapsed, len(kids), 100*float64(used)/float64(elapsed))
}

package stats

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// RegisterProcessMetrics adds the usual process and Go runtime metrics to r
// under their conventional names, which dashboards already know:
//
//	process_cpu_seconds_total       user + system CPU time (getrusage; GetProcessTimes on Windows)
//	process_resident_memory_bytes   resident set size (/proc/self/statm; 0 where absent)
//	process_open_fds                open file descriptors (/proc/self/fd; 0 where absent)
//	process_start_time_seconds      start time, Unix seconds (the time of this call)
//	go_goroutines                   runtime.NumGoroutine
//	go_gomaxprocs                   runtime.GOMAXPROCS
//
// The values are read on each scrape, from the scraping goroutine; the
// /proc reads cost a few µs. Calling it twice on one registry is harmless.
func RegisterProcessMetrics(r *Registry) {
	start := float64(time.Now().UnixNano()) / 1e9
	r.CounterFunc("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", processCPUSeconds)
	r.GaugeFunc("process_resident_memory_bytes", "Resident memory size in bytes.", processRSSBytes)
	r.GaugeFunc("process_open_fds", "Number of open file descriptors.", processOpenFDs)
	r.GaugeFunc("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", func() float64 { return start })
	r.GaugeFunc("go_goroutines", "Number of goroutines that currently exist.", func() float64 { return float64(runtime.NumGoroutine()) })
	r.GaugeFunc("go_gomaxprocs", "The value of GOMAXPROCS.", func() float64 { return float64(runtime.GOMAXPROCS(0)) })
}

func processRSSBytes() float64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(b))
	if len(fields) < 2 {
		return 0
	}
	pages, err := strconv.ParseUint(fields[1], 10, 64)
	if err != nil {
		return 0
	}
	return float64(pages) * float64(os.Getpagesize())
}

func processOpenFDs() float64 {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return 0
	}
	return float64(len(names) - 1) // minus the descriptor reading the directory
}

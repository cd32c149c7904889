package ceiling

import (
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/femtoclaw/femtoclaw-go/perf"
)

// NewReport returns a report named name (e.g.
// "Ceiling/ring/inflight=256") of workload w, with this machine's
// environment, ready for its Runs.
func NewReport(name string, w perf.Workload) *perf.Report {
	return &perf.Report{Schema: perf.ResultSchema, Name: name, Started: time.Now().UTC(), Environment: environment(), Workload: w}
}

// environment describes this machine and build.
func environment() perf.Environment {
	host, _ := os.Hostname()
	e := perf.Environment{
		Hostname: host, OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(),
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		e.Version = bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				e.Revision = s.Value
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		for i, f := range strings.Fields(string(b)) {
			if i == 3 {
				break
			}
			e.LoadAvg[i], _ = strconv.ParseFloat(f, 64)
		}
	}
	return e
}

func secondsDuration(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

package perf

import (
	"errors"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

// ErrUnsupported is returned by ReadProcess where the platform offers no
// way to read another process's CPU time and memory.
var ErrUnsupported = errors.New("perf: process figures need linux (/proc)")

// CollectEnvironment describes this machine and build: the host, the
// CPU, memory and kernel (Linux /proc; empty elsewhere), the load average
// now, the Go version and version, and the build's VCS revision. version
// is the load generator's own version string; the module version from
// the build information, when it is a release, takes precedence. dataDir,
// if not empty, is the directory whose storage is described (Storage).
func CollectEnvironment(version, dataDir string) Environment {
	e := Environment{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		GoVersion: runtime.Version(), Version: version}
	e.Hostname, _ = os.Hostname()
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			e.Version = v
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				e.Revision = s.Value
			case "vcs.modified":
				e.Modified = s.Value == "true"
			}
		}
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		e.CPUModel = cpuModel(string(b))
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		e.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		e.MemBytes = uint64(statusKB(string(b), "MemTotal:"))
	}
	e.LoadAvg = LoadAvg()
	if dataDir != "" {
		e.Storage = storageOf(dataDir)
	}
	return e
}

// LoadAvg returns the 1, 5 and 15 minute load averages (zeros where
// /proc/loadavg is absent).
func LoadAvg() [3]float64 {
	var l [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return l
	}
	f := strings.Fields(string(b))
	for i := 0; i < 3 && i < len(f); i++ {
		l[i], _ = strconv.ParseFloat(f[i], 64)
	}
	return l
}

// cpuModel returns the first "model name" of /proc/cpuinfo (x86), else
// its "Hardware" or "Model" line (arm).
func cpuModel(info string) string {
	var alt string
	for line := range strings.Lines(info) {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "model name":
			return strings.TrimSpace(v)
		case "Hardware", "Model":
			if alt == "" {
				alt = strings.TrimSpace(v)
			}
		}
	}
	return alt
}

// statusKB returns the value in bytes of a "Key:   123 kB" line, or 0.
func statusKB(text, key string) int64 {
	for line := range strings.Lines(text) {
		if v, ok := strings.CutPrefix(line, key); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				return 0
			}
			n, _ := strconv.ParseInt(f[0], 10, 64)
			if len(f) > 1 && f[1] == "kB" {
				n *= 1024
			}
			return n
		}
	}
	return 0
}

// ProcessSample is one reading of a process's resources.
type ProcessSample struct {
	CPUSeconds float64 // user + system CPU time since the process started
	RSSBytes   int64   // resident set size now
	HWMBytes   int64   // the largest RSS the process has had (VmHWM)
}

// ReadProcess reads pid's CPU time and resident memory from
// /proc/PID/stat and /proc/PID/status. CPU time is in the kernel's
// USER_HZ ticks, 100 per second on every Linux architecture Go supports.
// Elsewhere it returns ErrUnsupported.
func ReadProcess(pid int) (ProcessSample, error) {
	return readProcess(pid)
}

// parseProcStat returns utime + stime, in ticks, from a /proc/PID/stat
// line (the command name, in parentheses, may hold spaces); a process
// that has exited (a zombie not yet reaped) is an error.
func parseProcStat(line string) (int64, error) {
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return 0, errors.New("perf: malformed /proc stat line")
	}
	f := strings.Fields(line[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, errors.New("perf: short /proc stat line")
	}
	if f[0] == "Z" || f[0] == "X" {
		return 0, errors.New("perf: the process has exited")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("perf: malformed /proc stat times")
	}
	return u + s, nil
}

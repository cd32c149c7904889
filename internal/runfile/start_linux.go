package runfile

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the start time in /proc/PID/stat: USER_HZ, 100 on
// every architecture Go supports on Linux.
const userHZ = 100

// processStart returns when the process with this pid started, from
// /proc/PID/stat (field 22, clock ticks since boot) and /proc/stat's btime.
func processStart(pid int) (time.Time, bool) {
	f, ok := procStat(pid)
	const startField = 22 - 3 // f[0] is field 3, the state
	if !ok || len(f) <= startField {
		return time.Time{}, false
	}
	ticks, err := strconv.ParseInt(f[startField], 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	boot, ok := bootTime()
	if !ok {
		return time.Time{}, false
	}
	return boot.Add(time.Duration(ticks) * (time.Second / userHZ)), true
}

// processExited reports whether the process with this pid has exited
// but not been reaped yet (state Z, zombie, or X, dead): signal 0 still
// finds it, yet it serves nothing.
func processExited(pid int) bool {
	f, ok := procStat(pid)
	return ok && len(f) > 0 && (f[0] == "Z" || f[0] == "X")
}

// procStat returns the fields of /proc/PID/stat from the third (state)
// on.
func procStat(pid int) ([]string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, false
	}
	// "pid (comm) state ppid …": comm may hold spaces and parentheses,
	// so the fields are counted from the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, false
	}
	return strings.Fields(string(b[i+1:])), true
}

// bootTime reads the "btime" line of /proc/stat.
func bootTime() (time.Time, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, false
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, false
			}
			return time.Unix(s, 0), true
		}
	}
	return time.Time{}, false
}

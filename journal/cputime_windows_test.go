package journal

import (
	"time"

	"golang.org/x/sys/windows"
)

// cpuTime is the process's user+system CPU time: on a shared, noisy
// machine CPU per op is steadier than wall time.
func cpuTime() time.Duration {
	var creation, exit, kernel, user windows.Filetime
	_ = windows.GetProcessTimes(windows.CurrentProcess(), &creation, &exit, &kernel, &user)
	ticks := func(t windows.Filetime) int64 { return int64(t.HighDateTime)<<32 | int64(t.LowDateTime) } // 100 ns units
	return time.Duration((ticks(kernel) + ticks(user)) * 100)
}

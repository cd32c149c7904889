//go:build !linux

package runfile

import "time"

// processStart is unknown off Linux: staleness rests on pid liveness.
func processStart(int) (time.Time, bool) { return time.Time{}, false }

// processExited is unknown off Linux (a zombie counts as running).
func processExited(int) bool { return false }

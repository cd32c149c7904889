package runfile

import "os"

// processAlive reports whether a process with this pid exists: on
// Windows, FindProcess opens it and fails for a pid no process has.
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	p.Release()
	return true
}

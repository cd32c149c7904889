package capability

import "golang.org/x/sys/unix"

// unavailable is empty: Linux has everything the shell capability needs.
func (*Shell) unavailable() string { return "" }

// waitExitedNoReap blocks until pid has exited, leaving it waitable. It
// reports false when that cannot be known (for example when SIGCHLD is
// ignored and children are reaped automatically); the caller must then not
// assume the pid is still held.
func waitExitedNoReap(pid int) bool {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			return err == nil
		}
	}
}

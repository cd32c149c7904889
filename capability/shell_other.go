//go:build unix && !linux && !darwin

package capability

// unavailable explains why the shell capability cannot be enabled here:
// killing a call's leftover processes once the leader has exited, without
// risking an unrelated process group whose id reused the leader's pid,
// needs the leader to be waited for without being reaped, which is
// implemented for Linux (waitid) and macOS (kqueue) only.
func (*Shell) unavailable() string {
	return "waiting for a process without reaping it is implemented for linux and darwin only"
}

// waitExitedNoReap is never reached: Execute refuses every call first.
func waitExitedNoReap(int) bool { return false }

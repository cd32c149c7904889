package capability

import (
	"os"
	"syscall"
)

// unavailable explains why the shell capability cannot be enabled on
// Windows: it relies on POSIX process groups to stop everything a call
// started, and Windows has none.
func (*Shell) unavailable() string {
	return "it needs POSIX process groups to stop every process a call started"
}

// The functions below are never reached: Execute refuses every call first.

func groupAttr() *syscall.SysProcAttr    { return nil }
func killGroup(int) error                { return os.ErrProcessDone }
func waitExitedNoReap(int) bool          { return false }
func signalName(s syscall.Signal) string { return s.String() }

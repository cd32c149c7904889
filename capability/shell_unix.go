//go:build unix

package capability

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// groupAttr puts the process in a new process group of its own, led by it.
func groupAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// killGroup sends SIGKILL to the process group led by pid.
func killGroup(pid int) error {
	err := unix.Kill(-pid, unix.SIGKILL)
	if errors.Is(err, unix.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

// signalName is the signal's name, such as "SIGKILL".
func signalName(s syscall.Signal) string { return unix.SignalName(s) }

package capability

import "golang.org/x/sys/unix"

// unavailable is empty: macOS has everything the shell capability needs.
func (*Shell) unavailable() string { return "" }

// szomb is the zombie process state (SZOMB in <sys/proc.h>).
const szomb = 5

// waitExitedNoReap blocks until pid has exited, leaving it waitable. It
// reports false when that cannot be known (for example when SIGCHLD is
// ignored and children are reaped automatically); the caller must then not
// assume the pid is still held.
//
// macOS has no waitid(WNOWAIT) in reach, so it waits for the kqueue
// EVFILT_PROC NOTE_EXIT event, which reports the exit and leaves the child
// for wait4 to reap. The kernel refuses to attach the filter (ESRCH) to a
// process that has already exited; the process table then says whether it
// is a zombie still holding its pid (ours to reap: true) or gone (false).
func waitExitedNoReap(pid int) bool {
	kq, err := unix.Kqueue()
	if err != nil {
		return false
	}
	defer unix.Close(kq)
	unix.CloseOnExec(kq)
	change := []unix.Kevent_t{{Ident: uint64(pid), Filter: unix.EVFILT_PROC,
		Flags: unix.EV_ADD | unix.EV_ONESHOT, Fflags: unix.NOTE_EXIT}}
	for {
		_, err = unix.Kevent(kq, change, nil, nil)
		if err != unix.EINTR {
			break
		}
	}
	if err == unix.ESRCH {
		return isZombie(pid)
	}
	if err != nil {
		return false
	}
	ev := make([]unix.Kevent_t, 1)
	for {
		n, err := unix.Kevent(kq, nil, ev, nil)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil || n != 1:
			return false
		case ev[0].Flags&unix.EV_ERROR != 0:
			return ev[0].Data == int64(unix.ESRCH) && isZombie(pid)
		}
		return ev[0].Fflags&unix.NOTE_EXIT != 0
	}
}

// isZombie reports whether pid is a zombie process.
func isZombie(pid int) bool {
	kp, err := unix.SysctlKinfoProc("kern.proc.pid", pid)
	return err == nil && int(kp.Proc.P_pid) == pid && kp.Proc.P_stat == szomb
}

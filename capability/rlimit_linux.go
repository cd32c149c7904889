package capability

import "golang.org/x/sys/unix"

// The resources ShellLimits sets.
const (
	rlimitCPU    = unix.RLIMIT_CPU
	rlimitAS     = unix.RLIMIT_AS
	rlimitNPROC  = unix.RLIMIT_NPROC
	rlimitFSIZE  = unix.RLIMIT_FSIZE
	rlimitNOFILE = unix.RLIMIT_NOFILE
)

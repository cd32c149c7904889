//go:build !linux

package capability

// The resources ShellLimits sets: recorded, never applied off Linux.
const (
	rlimitCPU = iota
	rlimitAS
	rlimitNPROC
	rlimitFSIZE
	rlimitNOFILE
)

package capability

import (
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
)

// ShellLimits are the resource limits (setrlimit) of every process a
// shell call starts, applied before the binary is executed and inherited
// by everything it starts. Linux only. For each field, 0 takes the
// default and -1 leaves the runtime's own limit in place.
type ShellLimits struct {
	// CPUSeconds is RLIMIT_CPU, the CPU time of each process; past it the
	// kernel kills the process. If zero, defaults to 60.
	CPUSeconds int64
	// AddressSpaceBytes is RLIMIT_AS, the virtual memory of each process.
	// If zero, defaults to 4 GiB.
	AddressSpaceBytes int64
	// Processes is RLIMIT_NPROC. The kernel counts it per real user,
	// system wide, and does not enforce it for root: it bounds a fork bomb
	// only under a dedicated RunAs user. If zero, defaults to 256 when
	// RunAs is set and is left alone otherwise (under the runtime's own
	// user it would count the runtime's threads and every other process
	// of that user).
	Processes int64
	// FileSizeBytes is RLIMIT_FSIZE, the largest file a process may write;
	// a write past it fails and the process gets SIGXFSZ. If zero,
	// defaults to 1 GiB.
	FileSizeBytes int64
	// OpenFiles is RLIMIT_NOFILE. If zero, defaults to 1024.
	OpenFiles int64
}

// Defaults of ShellLimits.
const (
	DefaultShellCPUSeconds   = 60
	DefaultShellAddressSpace = 4 << 30
	DefaultShellProcesses    = 256 // with RunAs only
	DefaultShellFileSize     = 1 << 30
	DefaultShellOpenFiles    = 1024
)

// LandlockConfig confines every process of a shell call to paths, where
// the kernel offers Landlock (Linux 5.13 and later); see LandlockABI.
type LandlockConfig struct {
	// Disabled turns path confinement off.
	Disabled bool
	// Read lists the paths a process may read and execute, beneath each
	// (missing ones are skipped). If empty, defaults to
	// DefaultLandlockRead. The working directory is not added: list it if
	// the binaries must read it.
	Read []string
	// Write lists the paths a process may also write, create and remove
	// beneath, besides DefaultLandlockWrite (/dev/null), always writable.
	Write []string
}

// Landlock defaults: the system's binaries, libraries and configuration,
// and the harmless devices.
var (
	DefaultLandlockRead  = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc", "/dev/zero", "/dev/urandom", "/dev/random"}
	DefaultLandlockWrite = []string{"/dev/null"}
)

// rlimit is one resource limit to set.
type rlimit struct {
	Res int    `json:"r"`
	Val uint64 `json:"v"`
}

// launchSpec is what the launcher needs to start one call's process:
// the confinement (fixed at NewShell) and the binary and argv (per call).
type launchSpec struct {
	Path     string   `json:"path,omitempty"`
	Argv     []string `json:"argv,omitempty"`
	RunAs    bool     `json:"run_as,omitempty"`
	UID      int      `json:"uid,omitempty"`
	GID      int      `json:"gid,omitempty"`
	Groups   []int    `json:"groups,omitempty"`
	Limits   []rlimit `json:"limits,omitempty"`
	Landlock bool     `json:"landlock,omitempty"`
	Read     []string `json:"read,omitempty"`
	Write    []string `json:"write,omitempty"`
}

// confinement builds the launch template from the configuration: the
// RunAs user resolved, limits and Landlock paths with their defaults.
func confinement(cfg ShellConfig) (launchSpec, string) {
	var c launchSpec
	if cfg.RunAs != "" {
		if runtime.GOOS != "linux" {
			return c, "run_as is supported on Linux only"
		}
		u, err := user.Lookup(cfg.RunAs)
		if err != nil {
			if u, err = user.LookupId(cfg.RunAs); err != nil {
				return c, "run_as " + strconv.Quote(cfg.RunAs) + ": no such user"
			}
		}
		uid, err1 := strconv.Atoi(u.Uid)
		gid, err2 := strconv.Atoi(u.Gid)
		if err1 != nil || err2 != nil {
			return c, "run_as " + strconv.Quote(cfg.RunAs) + ": not a numeric uid and gid"
		}
		if euid := os.Geteuid(); euid != 0 && euid != uid {
			return c, "run_as " + strconv.Quote(cfg.RunAs) + " needs the runtime to run as root (it runs as uid " + strconv.Itoa(euid) + ")"
		}
		c.RunAs, c.UID, c.GID = true, uid, gid
		if ids, err := u.GroupIds(); err == nil {
			for _, g := range ids {
				if n, err := strconv.Atoi(g); err == nil {
					c.Groups = append(c.Groups, n)
				}
			}
		}
	}
	l := cfg.Limits
	for _, f := range []struct {
		res      int
		v, def   int64
		name     string
		onlyWith bool
	}{
		{rlimitCPU, l.CPUSeconds, DefaultShellCPUSeconds, "cpu_seconds", false},
		{rlimitAS, l.AddressSpaceBytes, DefaultShellAddressSpace, "address_space_bytes", false},
		{rlimitNPROC, l.Processes, DefaultShellProcesses, "processes", true},
		{rlimitFSIZE, l.FileSizeBytes, DefaultShellFileSize, "file_size_bytes", false},
		{rlimitNOFILE, l.OpenFiles, DefaultShellOpenFiles, "open_files", false},
	} {
		switch {
		case f.v < -1:
			return c, "limit " + f.name + " is below -1"
		case f.v == -1, f.v == 0 && f.onlyWith && !c.RunAs:
			continue
		case f.v == 0:
			f.v = f.def
		}
		c.Limits = append(c.Limits, rlimit{Res: f.res, Val: uint64(f.v)})
	}
	if !cfg.Landlock.Disabled {
		c.Landlock = true
		c.Read, c.Write = cfg.Landlock.Read, cfg.Landlock.Write
		if len(c.Read) == 0 {
			c.Read = DefaultLandlockRead
		}
		c.Write = append(append([]string(nil), DefaultLandlockWrite...), c.Write...)
		for _, p := range append(append([]string(nil), c.Read...), c.Write...) {
			if !filepath.IsAbs(p) {
				return c, "landlock path " + strconv.Quote(p) + " is not absolute"
			}
		}
	}
	return c, ""
}

// Confinement describes, for the start-up log, how shell processes are
// confined on this system; warn is true when the kernel lacks something
// the configuration asked for.
func (s *Shell) Confinement() (desc string, warn bool) {
	if why := s.unavailable(); why != "" {
		return "shell unavailable: " + why, false
	}
	return s.confinementText()
}

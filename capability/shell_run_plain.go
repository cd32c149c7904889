//go:build !linux

package capability

import (
	"context"
	"io"
	"os/exec"
)

// run executes argv in a process group of its own (see runGroup). Off
// Linux there is no launcher: no resource limits, no Landlock, no
// parent-death signal, and a process that leaves the group with setsid
// is out of reach.
func (s *Shell) run(ctx context.Context, path string, argv []string, stdout, stderr io.Writer) (exitStatus, error) {
	cmd := exec.CommandContext(ctx, path)
	cmd.Args = argv
	cmd.Dir = s.dir
	cmd.Env = append(make([]string, 0, len(s.env)), s.env...) // never nil: nil would inherit
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	return runGroup(ctx, cmd)
}

func (s *Shell) confinementText() (string, bool) {
	return "process group only: resource limits, Landlock, run_as and the parent-death signal need Linux", true
}

// LandlockABI is 0: Landlock is a Linux interface.
func LandlockABI() int { return 0 }

package ceiling

import (
	"os"
	"syscall"
)

// fdatasync makes f's data durable without its metadata when the size is
// unchanged, as the journal does on Linux.
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }

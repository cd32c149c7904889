package journal

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncData makes f's data durable with fcntl(F_FULLFSYNC): on macOS a plain
// fsync(2) only hands the data to the drive, which may keep it in its
// volatile cache; F_FULLFSYNC also asks the drive to flush that cache.
// Filesystems that do not implement F_FULLFSYNC (some network mounts)
// refuse it with ENOTSUP or EINVAL; for those the journal falls back to
// fsync(2), which is then the strongest flush the filesystem offers. The
// refusal is not an I/O failure (no data was dropped), so the fallback is
// not the retry after a failed sync that the sticky-error rule forbids.
func syncData(f *os.File) error {
	for {
		_, err := unix.FcntlInt(f.Fd(), unix.F_FULLFSYNC, 0)
		switch err {
		case nil:
			return nil
		case unix.EINTR:
			continue
		case unix.ENOTSUP, unix.EINVAL:
			return fsync(f)
		}
		return &os.PathError{Op: "fcntl F_FULLFSYNC", Path: f.Name(), Err: err}
	}
}

// fsync is fsync(2), retried on EINTR.
func fsync(f *os.File) error {
	for {
		err := unix.Fsync(int(f.Fd()))
		if err != unix.EINTR {
			if err != nil {
				return &os.PathError{Op: "fsync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}

// preallocate extends f to size bytes with ftruncate(2). The new bytes
// read back as zeros (POSIX), which is what recovery relies on: the end of
// the data is the first zero block header. Blocks are allocated as they
// are written, and F_FULLFSYNC flushes that metadata with the data.
func preallocate(f *os.File, size int64) error { return f.Truncate(size) }

package journal

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncData makes f's data durable with fdatasync(2), retried on EINTR. The
// segments are preallocated, so block writes do not change the file size
// and fdatasync has no metadata to flush.
func syncData(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if err != unix.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}

// preallocate gives f size bytes with fallocate(2), which allocates the
// extents and reads back as zeros. A filesystem that refuses fallocate
// gets the file extended with ftruncate instead (a sparse file, also read
// back as zeros).
func preallocate(f *os.File, size int64) error {
	if err := unix.Fallocate(int(f.Fd()), 0, 0, size); err != nil {
		return f.Truncate(size)
	}
	return nil
}

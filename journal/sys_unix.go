//go:build unix

package journal

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncDir fsyncs a directory so renames and creations in it are durable.
// (os.File.Sync is fsync(2); on macOS it is F_FULLFSYNC.)
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// renameOpen renames the open file f to newpath and returns the file to
// use from then on: f itself, since Unix renames open files. The caller
// syncs the directory.
func renameOpen(f *os.File, newpath string) (*os.File, error) {
	return f, os.Rename(f.Name(), newpath)
}

// mmapFile maps the first size bytes of f read-only (size > 0) and advises
// sequential access; the returned function unmaps them. The mapping
// outlives f's descriptor.
func mmapFile(f *os.File, size int) ([]byte, func(), error) {
	b, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	_ = unix.Madvise(b, unix.MADV_SEQUENTIAL)
	return b, func() { _ = unix.Munmap(b) }, nil
}

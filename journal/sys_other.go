//go:build unix && !linux && !darwin

package journal

import "os"

// syncData makes f's data durable with fsync(2) (os.File.Sync): the other
// Unix systems have no fdatasync the journal relies on, and fsync also
// flushes the metadata of blocks allocated by the write.
func syncData(f *os.File) error { return f.Sync() }

// preallocate extends f to size bytes with ftruncate(2). The new bytes
// read back as zeros (POSIX), which is what recovery relies on: the end of
// the data is the first zero block header.
func preallocate(f *os.File, size int64) error { return f.Truncate(size) }

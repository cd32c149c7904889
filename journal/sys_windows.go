package journal

import (
	"os"

	"golang.org/x/sys/windows"
)

// syncData makes f's data durable with FlushFileBuffers (os.File.Sync),
// which writes the file's data and metadata and asks the drive to flush
// its cache.
func syncData(f *os.File) error { return f.Sync() }

// preallocate extends f to size bytes (SetEndOfFile). NTFS reads the bytes
// past the valid data length back as zeros, which is what recovery relies
// on: the end of the data is the first zero block header.
func preallocate(f *os.File, size int64) error { return f.Truncate(size) }

// syncDir does nothing on Windows: a directory cannot be opened for
// writing, so it cannot be flushed. Segment renames, the only directory
// change the journal needs on disk before it acknowledges anything, are
// made durable by renameOpen instead; file creations and the checkpoint
// rename reach the disk when NTFS commits its metadata log.
func syncDir(string) error { return nil }

// renameOpen renames the open file f to newpath and returns the file to
// use from then on. Windows does not rename a file that is open without
// FILE_SHARE_DELETE, which os.OpenFile does not request, so f is closed,
// renamed with MoveFileEx(MOVEFILE_WRITE_THROUGH) — which returns only once
// the rename is on disk, standing in for the directory sync — and reopened
// under its new name. f is closed even when the rename fails.
func renameOpen(f *os.File, newpath string) (*os.File, error) {
	oldpath := f.Name()
	if err := f.Close(); err != nil {
		return nil, err
	}
	from, err := windows.UTF16PtrFromString(oldpath)
	if err != nil {
		return nil, &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	to, err := windows.UTF16PtrFromString(newpath)
	if err != nil {
		return nil, &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	if err := windows.MoveFileEx(from, to, windows.MOVEFILE_REPLACE_EXISTING|windows.MOVEFILE_WRITE_THROUGH); err != nil {
		return nil, &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return os.OpenFile(newpath, os.O_RDWR, 0)
}

// mmapFile reads the first size bytes of f into memory: the journal does
// not map files on Windows (a mapped file cannot be truncated or removed
// while the mapping lives). The returned function does nothing.
func mmapFile(f *os.File, size int) ([]byte, func(), error) {
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil {
		return nil, nil, err
	}
	return b, func() {}, nil
}

package journal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// fileSystem is everything the journal asks of the file system: every file
// and directory operation of Open, the writer, recovery and the offline
// readers goes through one. osFS, the default, is the operating system's
// (with the per-OS pieces in sys_<os>.go). The tests bring an in-memory one
// that simulates a power loss — only what was synced survives, plus,
// optionally, a random part of the rest — and one that injects failures
// (memfs_test.go); Config.fs selects it.
//
// Durability vocabulary, as the journal relies on it:
//
//   - file.Datasync makes the file's data durable: the bytes within the
//     file's durable size. (fdatasync on Linux, F_FULLFSYNC on macOS; see
//     the sys files.) The journal never relies on it for a size change:
//     segments get their final size and a Sync before any block is written.
//   - file.Sync makes the data and the metadata durable, the size included.
//   - fileSystem.SyncDir makes the directory's entries durable: a file
//     created, renamed or removed in it is durably so only after it.
type fileSystem interface {
	// OpenFile is os.OpenFile.
	OpenFile(name string, flag int, perm os.FileMode) (file, error)
	// Remove, Rename and MkdirAll are the os functions.
	Remove(name string) error
	Rename(oldpath, newpath string) error
	MkdirAll(dir string, perm os.FileMode) error
	// ReadDir lists the regular files of dir (unsorted).
	ReadDir(dir string) ([]dirEntry, error)
	// Stat returns a file's size; errors wrap os.ErrNotExist for a file
	// that does not exist.
	Stat(name string) (int64, error)
	// SyncDir makes dir's entries durable.
	SyncDir(dir string) error
	// RenameOpen renames the open file f to newpath and returns the file
	// to use from then on (f itself, except on Windows). The caller syncs
	// the directory.
	RenameOpen(f file, newpath string) (file, error)
	// Map returns a file's contents, read-only, and a function that
	// releases them (an mmap where the OS has it, else a copy).
	Map(name string) ([]byte, func(), error)
}

// file is the part of *os.File the journal uses.
type file interface {
	io.ReaderAt
	io.WriterAt
	io.Writer
	Datasync() error
	Sync() error
	// Preallocate gives the file size bytes that read back as zeros.
	Preallocate(size int64) error
	Size() (int64, error)
	Close() error
	Name() string
}

type dirEntry struct {
	name string
	size int64
}

// osFS is the operating system's file system.
type osFS struct{}

type osFile struct {
	*os.File
	name string // the name after RenameOpen (os.File.Name keeps the old one)
}

func (f osFile) Name() string {
	if f.name != "" {
		return f.name
	}
	return f.File.Name()
}

// Datasync makes the file's data durable; see syncData in the per-OS
// files (sys_*.go) for what that means on each platform.
func (f osFile) Datasync() error { return syncData(f.File) }

// Preallocate: see preallocate in sys_*.go.
func (f osFile) Preallocate(size int64) error { return preallocate(f.File, size) }

func (f osFile) Size() (int64, error) {
	fi, err := f.File.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (osFS) OpenFile(name string, flag int, perm os.FileMode) (file, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{File: f}, nil
}

func (osFS) Remove(name string) error             { return os.Remove(name) }
func (osFS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }
func (osFS) MkdirAll(dir string, perm os.FileMode) error {
	return os.MkdirAll(dir, perm)
}
func (osFS) SyncDir(dir string) error { return syncDir(dir) }

func (osFS) Stat(name string) (int64, error) {
	fi, err := os.Lstat(name)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (osFS) ReadDir(dir string) ([]dirEntry, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make([]dirEntry, 0, len(ents))
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // renamed or removed since the listing (next.seg.tmp at a roll): not there
		}
		if err != nil {
			return nil, err
		}
		out = append(out, dirEntry{name: e.Name(), size: fi.Size()})
	}
	return out, nil
}

func (osFS) RenameOpen(f file, newpath string) (file, error) {
	of, ok := f.(osFile)
	if !ok {
		return nil, fmt.Errorf("journal: rename of a foreign file %s", f.Name())
	}
	nf, err := renameOpen(of.File, newpath)
	if err != nil {
		return nil, err
	}
	return osFile{File: nf, name: newpath}, nil
}

// Map maps a file read-only; empty files map to nil. Where mapping fails
// (or the OS maps nothing: Windows) the file is read into memory.
func (osFS) Map(path string) ([]byte, func(), error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if fi.Size() == 0 {
		return nil, func() {}, nil
	}
	if fi.Size() > int64(^uint(0)>>1) {
		return nil, nil, fmt.Errorf("%s: too large to map", path)
	}
	b, unmap, err := mmapFile(f, int(fi.Size()))
	if err != nil {
		b, err := os.ReadFile(path)
		return b, func() {}, err
	}
	return b, unmap, nil
}

// readFile reads a whole file through fsys.
func readFile(fsys fileSystem, name string) ([]byte, error) {
	b, release, err := fsys.Map(name)
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), b...)
	release()
	return out, nil
}

// writeFile creates (or truncates) path and writes data, synced when
// sync is set; the caller syncs the directory.
func writeFile(fsys fileSystem, path string, data []byte, sync bool) error {
	f, err := fsys.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

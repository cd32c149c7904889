//go:build !linux && !darwin

package capability

import (
	"errors"
	"os"
	"syscall"
)

// openResolved opens rel (as resolveInRoot returns it) through os.Root,
// which never leaves the root, and then checks that the file opened is
// the one at rel examined without following links. Unlike the openat walk
// of Linux and macOS this leaves a window: a component swapped for a
// symbolic link (inside the root) between the open and the check can go
// unnoticed if it is swapped back.
func openResolved(root *os.Root, _, rel string) (*os.File, error) {
	if rel == "" {
		rel = "."
	}
	file, err := root.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	got, err1 := file.Stat()
	want, err2 := root.Lstat(rel)
	if err := errors.Join(err1, err2); err != nil {
		file.Close()
		return nil, err
	}
	if !os.SameFile(got, want) {
		file.Close()
		return nil, syscall.ELOOP
	}
	return file, nil
}

//go:build linux || darwin

package capability

import (
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// openResolved opens rel (slash-separated, relative to the root at
// rootPath, as resolveInRoot returns it) one component at a time with
// openat and O_NOFOLLOW, so no symbolic link is followed: if any component
// became a link since it was resolved, the open fails with ELOOP (or
// ENOTDIR) instead of reading another file. The final open is
// non-blocking, so a FIFO cannot hang it.
func openResolved(_ *os.Root, rootPath, rel string) (*os.File, error) {
	fd, err := openatRetry(unix.AT_FDCWD, rootPath, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: rootPath, Err: err}
	}
	if rel != "" {
		parts := strings.Split(rel, "/")
		for i, c := range parts {
			flags := unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC
			if i < len(parts)-1 {
				flags |= unix.O_DIRECTORY
			} else {
				flags |= unix.O_NONBLOCK | unix.O_NOCTTY
			}
			next, err := openatRetry(fd, c, flags)
			unix.Close(fd)
			if err != nil {
				return nil, &os.PathError{Op: "openat", Path: rel, Err: err}
			}
			fd = next
		}
	}
	return os.NewFile(uintptr(fd), rootPath+"/"+rel), nil
}

func openatRetry(dir int, name string, flags int) (int, error) {
	for {
		fd, err := unix.Openat(dir, name, flags, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

package journal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// segmentFile is the part of *os.File the writer uses. Tests wrap it to
// inject write and sync failures.
type segmentFile interface {
	WriteAt(p []byte, off int64) (int, error)
	ReadAt(p []byte, off int64) (int, error)
	Datasync() error
	Close() error
	Name() string
}

type osFile struct{ *os.File }

// Datasync makes the file's data durable; see syncData in the per-OS
// files (sys_*.go) for what that means on each platform.
func (f osFile) Datasync() error { return syncData(f.File) }

// segmentName returns the file name of segment index.
func segmentName(index uint64) string { return fmt.Sprintf("%020d%s", index, segmentExt) }

const (
	tempSuffix      = ".tmp"
	brokenSuffix    = ".broken"
	checkpointName  = "checkpoint"
	preparedSegName = "next.seg.tmp"
	quickSegName    = "next-quick.seg.tmp"
	checkpointTmp   = "checkpoint.tmp"
)

// segInfo is a segment found on disk.
type segInfo struct {
	index uint64
	name  string
	path  string
	size  int64
}

// listSegments returns the directory's segments sorted by index and checks
// that the indexes have no gaps.
func listSegments(dir string) ([]segInfo, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []segInfo
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, segmentExt) || e.IsDir() {
			continue
		}
		idx, err := strconv.ParseUint(strings.TrimSuffix(name, segmentExt), 10, 64)
		if err != nil || segmentName(idx) != name {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return nil, err
		}
		segs = append(segs, segInfo{index: idx, name: name, path: filepath.Join(dir, name), size: fi.Size()})
	}
	slices.SortFunc(segs, func(a, b segInfo) int { return cmpU64(a.index, b.index) })
	for i, s := range segs {
		if s.index != segs[0].index+uint64(i) {
			return nil, &BlockError{Kind: ErrCorrupt, Segment: s.name, Block: -1,
				Err: fmt.Errorf("segment %s missing", segmentName(segs[0].index+uint64(i)))}
		}
	}
	return segs, nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

var errCanceled = errors.New("journal: segment preparation canceled")

// prepareSegment creates path (truncating it) with size bytes allocated
// and syncs it, so later block writes do not change the file size. With
// zeroFill the bytes are written as zeros (the fastest fdatasync later:
// no unwritten extents to convert); otherwise they are preallocated (fast
// to create; fallocate on Linux, a file extension elsewhere — both read
// back as zeros, which recovery relies on). A close of stop aborts a zero
// fill and removes the file.
func prepareSegment(path string, size int64, zeroFill bool, stop <-chan struct{}) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*os.File, error) {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	if zeroFill {
		zero := make([]byte, min(size, 1<<20))
		for off := int64(0); off < size; {
			select {
			case <-stop:
				return fail(errCanceled)
			default:
			}
			n := min(int64(len(zero)), size-off)
			if _, err := f.WriteAt(zero[:n], off); err != nil {
				return fail(err)
			}
			off += n
		}
	} else if err := preallocate(f, size); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	return f, nil
}

// mapFile maps a file read-only; the returned function unmaps it. Empty
// files map to nil.
func mapFile(path string) ([]byte, func(), error) {
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
		// Fall back to reading it.
		b, err := os.ReadFile(path)
		return b, func() {}, err
	}
	return b, unmap, nil
}

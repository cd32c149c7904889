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
func listSegments(fsys fileSystem, dir string) ([]segInfo, error) {
	segs, err := listSegmentFiles(fsys, dir)
	if err != nil {
		return nil, err
	}
	if err := checkGaps(segs); err != nil {
		return nil, err
	}
	return segs, nil
}

// listSegmentFiles returns the directory's segment files sorted by index.
func listSegmentFiles(fsys fileSystem, dir string) ([]segInfo, error) {
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []segInfo
	for _, e := range ents {
		name := e.name
		if !strings.HasSuffix(name, segmentExt) {
			continue
		}
		idx, err := strconv.ParseUint(strings.TrimSuffix(name, segmentExt), 10, 64)
		if err != nil || segmentName(idx) != name {
			continue
		}
		segs = append(segs, segInfo{index: idx, name: name, path: filepath.Join(dir, name), size: e.size})
	}
	slices.SortFunc(segs, func(a, b segInfo) int { return cmpU64(a.index, b.index) })
	return segs, nil
}

// checkGaps checks that sorted segments are numbered without gaps.
func checkGaps(segs []segInfo) error {
	for i, s := range segs {
		if s.index != segs[0].index+uint64(i) {
			return &BlockError{Kind: ErrCorrupt, Segment: s.name, Block: -1,
				Err: fmt.Errorf("segment %s missing", segmentName(segs[0].index+uint64(i)))}
		}
	}
	return nil
}

// splitPending lists the journal's segments and splits them at the
// retention manifest's first segment (0 without a manifest): the ones
// before it are on their way out (a retention pass cut short), the rest
// are the journal, numbered without gaps.
func splitPending(fsys fileSystem, dir string, m *manifest) (kept, pending []segInfo, err error) {
	segs, err := listSegmentFiles(fsys, dir)
	if err != nil {
		return nil, nil, err
	}
	var first uint64
	if m != nil {
		first = m.first
	}
	i, _ := slices.BinarySearchFunc(segs, first, func(s segInfo, t uint64) int { return cmpU64(s.index, t) })
	kept, pending = segs[i:], segs[:i]
	if err := checkGaps(kept); err != nil {
		return nil, nil, err
	}
	return kept, pending, nil
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
func prepareSegment(fsys fileSystem, path string, size int64, zeroFill bool, stop <-chan struct{}) (file, error) {
	f, err := fsys.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (file, error) {
		f.Close()
		fsys.Remove(path)
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
	} else if err := f.Preallocate(size); err != nil {
		return fail(err)
	}
	err = f.Sync() // mutate:sync-prealloc
	if err != nil {
		return fail(err)
	}
	return f, nil
}

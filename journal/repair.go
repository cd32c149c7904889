package journal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// RepairOptions selects where Repair cuts the journal.
type RepairOptions struct {
	// ToSeq, if non-zero, cuts after the last valid block whose records
	// all have seq <= ToSeq. If zero, Repair cuts after the last valid
	// block before the first damage (the longest valid prefix).
	ToSeq uint64
	// Backup is the directory the journal is copied to before anything is
	// changed. It must not exist. If empty, defaults to
	// "<dir>.repair-<UTC time>" beside the journal.
	Backup string
}

// RepairReport says what Repair kept and what it dropped.
type RepairReport struct {
	Backup          string   // where the journal was copied first
	HeadSeq         uint64   // the last seq kept
	HeadHash        string   // hex chain hash after the last block kept
	CutSegment      string   // the segment cut
	CutOffset       int64    // where it was cut: the end of the last block kept
	DroppedBytes    int64    // non-zero bytes dropped from CutSegment
	RemovedSegments []string // later segments removed (all of them are in Backup)
	// DroppedFromSeq is the first seq dropped (HeadSeq+1); DroppedRecords
	// counts the records of the dropped blocks that were still readable
	// (valid CRC) — damaged ones cannot be counted.
	DroppedFromSeq    uint64
	DroppedRecords    int64
	RemovedCheckpoint bool
	Cause             *BlockError // the damage found, if any (nil when the journal verified)
}

// Repair cuts the journal in dir at a valid block boundary, for an
// operator who accepts losing what follows (Open and Verify refuse
// damage; see the package documentation). It never rewrites a block or
// re-chains anything: everything before the cut stays byte for byte, and
// everything after it is dropped. First it copies every file of the
// journal to RepairOptions.Backup (synced); then it zeroes the cut
// segment from the cut to its end, removes the later segments and the
// checkpoint (Open verifies from the start and writes a new one), and
// syncs. The journal must not be open: Repair holds the journal
// directory's lock, as Open does, for the whole repair, and fails with a
// *LockedError naming the writer when another holds it (a running server
// would otherwise go on appending after a cut it does not know about).
func Repair(dir string, opt RepairOptions) (RepairReport, error) {
	if _, err := os.Stat(dir); err == nil {
		l, err := LockDir(dir, "journal repair")
		if err != nil {
			return RepairReport{}, fmt.Errorf("journal: repair: %w", err)
		}
		defer l.Unlock()
	}
	return repairDir(osFS{}, dir, opt, time.Now)
}

func repairDir(fsys fileSystem, dir string, opt RepairOptions, now func() time.Time) (RepairReport, error) {
	var rep RepairReport
	// Find the cut: walk the chain (no checkpoint: its promise is what the
	// operator overrides) and remember the last acceptable block end.
	type cut struct {
		pos     position
		nextSeq uint64
		head    [hashSize]byte
	}
	var best *cut
	var segOfBlock uint64
	visit := func(v *blockVisit) error { segOfBlock = v.seg.index; return nil }
	after := func(head [hashSize]byte, next uint64) {
		if opt.ToSeq == 0 || next-1 <= opt.ToSeq {
			best = &cut{nextSeq: next, head: head, pos: position{seg: segOfBlock}}
		}
	}
	res, err := walk(fsys, dir, walkOpts{chain: true, visit: visit, afterBlock: after})
	var be *BlockError
	if err != nil && !errors.As(err, &be) {
		return rep, err
	}
	if be == nil && res.torn != nil {
		be = &BlockError{Kind: ErrTornTail, Segment: res.torn.seg.name, Offset: res.torn.off, Block: res.torn.block, Err: res.torn.err}
	}
	rep.Cause = be
	if len(res.segs) == 0 {
		return rep, fmt.Errorf("journal: repair %s: no segments", dir)
	}
	if best == nil {
		// Nothing valid (or nothing at or below ToSeq): keep segment 0's
		// header alone, when it is valid.
		// (Or, after retention, the first kept segment's, with the anchor.)
		if res.firstSeq == 0 {
			return rep, fmt.Errorf("journal: repair %s: the first segment's header is damaged (%v); nothing can be kept", dir, err)
		}
		best = &cut{pos: position{seg: res.segs[0].index, off: segHeaderSize}, nextSeq: res.firstSeq, head: res.genesis}
		if m := res.manifest; m != nil {
			best.head = m.anchor
		}
	} else {
		// walk's afterBlock runs once validEnd is set for that block, but
		// the position must be read from the walk's record of the block end:
		// rerun to the chosen seq boundary.
		best.pos = findBlockEnd(fsys, dir, best.nextSeq)
	}
	// Copy everything aside first.
	rep.Backup = opt.Backup
	if rep.Backup == "" {
		rep.Backup = filepath.Clean(dir) + ".repair-" + now().UTC().Format("20060102T150405Z")
	}
	if _, err := fsys.Stat(rep.Backup); err == nil {
		return rep, fmt.Errorf("journal: repair: backup %s exists", rep.Backup)
	}
	if err := copyDirSync(fsys, dir, rep.Backup); err != nil {
		return rep, fmt.Errorf("journal: repair: backup: %w", err)
	}
	rep.HeadSeq = best.nextSeq - 1
	rep.HeadHash = fmt.Sprintf("%x", best.head)
	rep.DroppedFromSeq = best.nextSeq
	rep.DroppedRecords = int64(res.records) - int64(best.nextSeq-res.firstSeq)
	if be != nil || res.torn != nil {
		rep.DroppedRecords = max(rep.DroppedRecords, 0)
	}
	rep.CutSegment = segmentName(best.pos.seg)
	rep.CutOffset = best.pos.off
	for _, s := range res.segs {
		switch {
		case s.index == best.pos.seg:
			n, err := zeroFrom(fsys, s.path, best.pos.off)
			if err != nil {
				return rep, fmt.Errorf("journal: repair: %w", err)
			}
			rep.DroppedBytes = n
		case s.index > best.pos.seg:
			if err := fsys.Remove(s.path); err != nil {
				return rep, fmt.Errorf("journal: repair: %w", err)
			}
			rep.RemovedSegments = append(rep.RemovedSegments, s.name)
		}
	}
	if err := fsys.Remove(filepath.Join(dir, checkpointName)); err == nil {
		rep.RemovedCheckpoint = true
	} else if !errors.Is(err, os.ErrNotExist) {
		return rep, fmt.Errorf("journal: repair: %w", err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		return rep, fmt.Errorf("journal: repair: %w", err)
	}
	return rep, nil
}

// findBlockEnd returns the position just after the block whose last record
// is nextSeq-1 (or segment 0's header when nextSeq is the first seq).
func findBlockEnd(fsys fileSystem, dir string, nextSeq uint64) position {
	var pos position
	_, _ = walk(fsys, dir, walkOpts{visit: func(v *blockVisit) error {
		if v.hdr.FirstSeq+uint64(v.hdr.Count) == nextSeq {
			pos = position{seg: v.seg.index, off: v.off + int64(len(v.block))}
			return errStop
		}
		return nil
	}})
	return pos
}

// zeroFrom zeroes path from off to its last non-zero byte, syncs it and
// returns how many bytes that covered.
func zeroFrom(fsys fileSystem, path string, off int64) (int64, error) {
	data, err := readFile(fsys, path)
	if err != nil {
		return 0, err
	}
	if off >= int64(len(data)) {
		return 0, nil
	}
	n := nonZeroEnd(data[off:])
	if n == 0 {
		return 0, nil
	}
	f, err := fsys.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if _, err := f.WriteAt(make([]byte, n), off); err != nil {
		return 0, err
	}
	return n, f.Sync()
}

// copyDirSync copies the regular files of src into the new directory dst
// and syncs them and dst.
func copyDirSync(fsys fileSystem, src, dst string) error {
	if err := fsys.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	ents, err := fsys.ReadDir(src)
	if err != nil {
		return err
	}
	slices.SortFunc(ents, func(a, b dirEntry) int {
		if a.name < b.name {
			return -1
		}
		return 1
	})
	for _, e := range ents {
		if e.name == LockFileName {
			continue // not journal data, and held (unreadable on windows)
		}
		data, err := readFile(fsys, filepath.Join(src, e.name))
		if err != nil {
			return err
		}
		if err := writeFile(fsys, filepath.Join(dst, e.name), data, true); err != nil {
			return err
		}
	}
	if err := fsys.SyncDir(dst); err != nil {
		return err
	}
	return fsys.SyncDir(filepath.Dir(filepath.Clean(dst)))
}

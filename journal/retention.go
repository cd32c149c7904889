package journal

// Retention: removing (or archiving) whole sealed segments by age and
// size, while Verify still proves the chain of what remains.
//
// The retention manifest is a small file in the journal directory,
// "retention", written (temp file, sync, rename, directory sync) before
// any segment is removed. It records where the journal now starts and
// the chain hash that segment continues from (the anchor), so the
// segments before it can go. Part of the on-disk format: a new layout
// gets a new version number.
//
// Retention manifest (little endian):
//
//	 0        4        6        8                16               24
//	+--------+--------+--------+----------------+----------------+
//	| "FCJR" |version | flags  | first segment  |   first seq    |
//	+--------+--------+--------+----------------+----------------+
//	24                                                           56
//	+------------------------------------------------------------+
//	| anchor: the chain hash after seq first-1 (32 bytes) = the  |
//	| prev hash in the first kept segment's header               |
//	+------------------------------------------------------------+
//	56                                                           88
//	+------------------------------------------------------------+
//	| genesis: the journal's genesis value (32 bytes), which     |
//	| segment 0's header held                                    |
//	+------------------------------------------------------------+
//	88               96               104              112
//	+----------------+----------------+----------------+
//	| removed        | archived       | bytes          |
//	| segments       | segments       | reclaimed      |
//	+----------------+----------------+----------------+
//	112              120      122
//	+----------------+--------+---------------------------+--------+
//	| time (unix ns) | dirlen | archive dir (dirlen bytes) | CRC32C |
//	+----------------+--------+---------------------------+--------+
//
//	version        1; flags are zero
//	first segment  the first segment the journal holds; every segment
//	               before it was removed or archived by retention, or is
//	               being (a pass cut short by a crash: Open finishes it)
//	first seq      the seq that segment starts at (its header's first seq)
//	removed,       segments removed and archived by retention, in all;
//	archived       removed + archived = first segment (segments are
//	               numbered from 0 without gaps)
//	bytes          the size of the segment files removed or archived, in all
//	time           when the manifest was written
//	archive dir    where the segments below first segment go: "" removes
//	               them. Open finishes a cut-short pass the way it began.
//	CRC32C         Castagnoli CRC of every byte before it
//
// The manifest is durable metadata, like the checkpoint's promise but
// binding the other end of the journal: a journal whose first segment is
// not the manifest's, or whose first segment does not start at the
// manifest's seq with the manifest's anchor, is corruption (a segment
// deleted by hand). Without a manifest the journal must start at segment
// 0, seq 1, as before. Like the checkpoint, the manifest carries no
// secret: a wholesale rewrite of the journal and its manifest is
// detectable only against a head recorded elsewhere (VerifyAnchored).

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Part of the on-disk format and should not be changed.
const (
	manifestMagic   = "FCJR"
	manifestVersion = 1
	manifestFixed   = 122 // bytes before the archive dir
	maxArchiveDir   = 4096
	manifestName    = "retention"
	manifestTmp     = "retention.tmp"
)

// manifest is the decoded retention manifest.
type manifest struct {
	first      uint64 // first segment kept
	firstSeq   uint64
	anchor     [hashSize]byte
	genesis    [hashSize]byte
	removed    int64
	archived   int64
	reclaimed  int64
	timeNs     int64
	archiveDir string
}

func (m *manifest) encode() []byte {
	b := make([]byte, 0, manifestFixed+len(m.archiveDir)+4)
	b = append(b, manifestMagic...)
	b = binary.LittleEndian.AppendUint16(b, manifestVersion)
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint64(b, m.first)
	b = binary.LittleEndian.AppendUint64(b, m.firstSeq)
	b = append(b, m.anchor[:]...)
	b = append(b, m.genesis[:]...)
	for _, v := range [...]int64{m.removed, m.archived, m.reclaimed, m.timeNs} {
		b = binary.LittleEndian.AppendUint64(b, uint64(v))
	}
	b = binary.LittleEndian.AppendUint16(b, uint16(len(m.archiveDir)))
	b = append(b, m.archiveDir...)
	return binary.LittleEndian.AppendUint32(b, checksum(b))
}

func decodeManifest(b []byte) (manifest, error) {
	var m manifest
	if len(b) < manifestFixed+4 || string(b[:4]) != manifestMagic {
		return m, errBadMagic
	}
	body := b[:len(b)-4]
	if got, want := checksum(body), binary.LittleEndian.Uint32(b[len(b)-4:]); got != want {
		return m, fmt.Errorf("%w: want %08x got %08x", errBadCRC, want, got)
	}
	if v := binary.LittleEndian.Uint16(b[4:6]); v != manifestVersion {
		return m, fmt.Errorf("%w: %d", errBadVersion, v)
	}
	if binary.LittleEndian.Uint16(b[6:8]) != 0 {
		return m, fmt.Errorf("%w: flags not zero", errBadHeader)
	}
	m.first = binary.LittleEndian.Uint64(b[8:16])
	m.firstSeq = binary.LittleEndian.Uint64(b[16:24])
	copy(m.anchor[:], b[24:56])
	copy(m.genesis[:], b[56:88])
	m.removed = int64(binary.LittleEndian.Uint64(b[88:96]))
	m.archived = int64(binary.LittleEndian.Uint64(b[96:104]))
	m.reclaimed = int64(binary.LittleEndian.Uint64(b[104:112]))
	m.timeNs = int64(binary.LittleEndian.Uint64(b[112:120]))
	n := int(binary.LittleEndian.Uint16(b[120:122]))
	switch {
	case len(body) != manifestFixed+n:
		return m, fmt.Errorf("%w: archive dir length %d, %d bytes left", errBadHeader, n, len(body)-manifestFixed)
	case m.first == 0 || m.firstSeq < 2:
		return m, fmt.Errorf("%w: first segment %d, first seq %d", errBadHeader, m.first, m.firstSeq)
	case m.removed < 0 || m.archived < 0 || uint64(m.removed)+uint64(m.archived) != m.first:
		return m, fmt.Errorf("%w: %d removed and %d archived segments, first segment %d", errBadHeader, m.removed, m.archived, m.first)
	}
	m.archiveDir = string(body[manifestFixed:])
	return m, nil
}

// readManifest reads the directory's retention manifest: nil when there is
// none. One that exists but does not decode is corruption: it was synced
// before any segment was removed, so the journal's start is unknown.
func readManifest(fsys fileSystem, dir string) (*manifest, error) {
	b, err := readFile(fsys, filepath.Join(dir, manifestName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal: retention manifest: %w", err)
	}
	m, err := decodeManifest(b)
	if err != nil {
		return nil, &BlockError{Kind: ErrCorrupt, Segment: manifestName, Block: -1,
			Err: fmt.Errorf("the retention manifest does not decode (%w): where the journal starts is unknown", err)}
	}
	return &m, nil
}

// writeManifest replaces the manifest durably: temp file, sync, rename,
// directory sync. Nothing may be removed before it returns nil.
func writeManifest(fsys fileSystem, dir string, m *manifest) error {
	tmp := filepath.Join(dir, manifestTmp)
	f, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(m.encode())
	if err == nil {
		err = f.Sync() // mutate:sync-retention-manifest
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsys.Rename(tmp, filepath.Join(dir, manifestName))
	}
	if err == nil {
		err = fsys.SyncDir(dir) // mutate:syncdir-retention-manifest
	}
	return err
}

// RetentionInfo is where retention left the journal's start, from the
// retention manifest (nil in reports when nothing was ever removed).
type RetentionInfo struct {
	FirstSegment uint64 // the first segment the journal holds
	FirstSeq     uint64 // the first record it holds
	// AnchorSeq and AnchorHash are where the chain of what remains is
	// anchored: the last record removed (FirstSeq-1) and the chain hash
	// after it (hex), which the first kept segment continues from.
	AnchorSeq       uint64
	AnchorHash      string
	Removed         int64     // segments removed by retention, in all
	Archived        int64     // segments archived by retention, in all
	BytesReclaimed  int64     // their file sizes, in all
	ArchiveDir      string    // where the last pass archived to ("" when it removed)
	Written         time.Time // when the manifest was last written
	PendingSegments int       // segments before FirstSegment still present (a pass cut short; Open finishes it)
}

func (m *manifest) info(pending int) *RetentionInfo {
	if m == nil {
		return nil
	}
	return &RetentionInfo{FirstSegment: m.first, FirstSeq: m.firstSeq, AnchorSeq: m.firstSeq - 1,
		AnchorHash: fmt.Sprintf("%x", m.anchor), Removed: m.removed, Archived: m.archived,
		BytesReclaimed: m.reclaimed, ArchiveDir: m.archiveDir, Written: time.Unix(0, m.timeNs).UTC(),
		PendingSegments: pending}
}

// finishPending removes or archives the segments a retention pass left
// behind when it was cut short (a crash after the manifest was written):
// they are no longer part of the journal. Oldest first, like the pass.
func finishPending(cfg *Config, m *manifest, pending []segInfo, dirMu lockable) error {
	if len(pending) == 0 {
		return nil
	}
	_, _, err := moveSegments(cfg.fs, cfg.Dir, pending, m.archiveDir, dirMu, nil)
	if err != nil {
		return err
	}
	cfg.Logger.Info("journal: finished a retention pass cut short", "segments", len(pending),
		"first", pending[0].name, "archive_dir", m.archiveDir)
	return nil
}

// lockable is a sync.Mutex, or nothing (Open, before any other goroutine).
type lockable interface {
	Lock()
	Unlock()
}

type noLock struct{}

func (noLock) Lock()   {}
func (noLock) Unlock() {}

// moveSegments archives (archiveDir set) or removes segs, oldest first,
// and syncs the directories. A close of stop ends it between two
// segments (what is left is finished later: the manifest already says
// they are gone). It returns how many segments it moved and their bytes.
//
// Archiving renames each segment into archiveDir and syncs that
// directory before anything else may sync the journal directory (dirMu,
// which the flusher holds for its directory syncs): at every moment a
// crash leaves the segment in one directory or in both, never in
// neither. Across file systems (EXDEV) the segment is copied, synced and
// renamed into place there, and removed from the journal only after
// that.
func moveSegments(fsys fileSystem, dir string, segs []segInfo, archiveDir string, dirMu lockable, stop <-chan struct{}) (int, int64, error) {
	if archiveDir != "" {
		if err := fsys.MkdirAll(archiveDir, 0o700); err != nil {
			return 0, 0, err
		}
		// The archive directory's own entry, in case MkdirAll created it.
		if err := fsys.SyncDir(filepath.Dir(filepath.Clean(archiveDir))); err != nil {
			return 0, 0, &syncError{err}
		}
	}
	var n int
	var bytes int64
	var err error
loop:
	for _, s := range segs {
		select {
		case <-stop:
			break loop
		default:
		}
		if archiveDir != "" {
			err = archiveSegment(fsys, s, archiveDir, dirMu)
		} else if err = fsys.Remove(s.path); errors.Is(err, os.ErrNotExist) {
			err = nil // removed before a crash, the removal not synced
		}
		if err != nil {
			break
		}
		n++
		bytes += s.size
	}
	if n > 0 {
		serr := fsys.SyncDir(dir) // mutate:syncdir-retention
		if err == nil && serr != nil {
			err = &syncError{serr}
		}
	}
	return n, bytes, err
}

// syncError marks a failed sync in retention's file work. It is sticky
// (a later sync could succeed without the data being on disk); a failed
// removal or rename is not: the segment stays before the manifest's first
// one, and the next pass, or the next Open, tries again.
type syncError struct{ err error }

func (e *syncError) Error() string { return "sync: " + e.err.Error() }
func (e *syncError) Unwrap() error { return e.err }

// archiveSegment moves one segment into archiveDir (see moveSegments).
func archiveSegment(fsys fileSystem, s segInfo, archiveDir string, dirMu lockable) error {
	dst := filepath.Join(archiveDir, s.name)
	if err := sameSegment(fsys, s.path, dst); err != nil {
		return err
	}
	dirMu.Lock()
	err := fsys.Rename(s.path, dst)
	if err == nil {
		err = fsys.SyncDir(archiveDir) // mutate:syncdir-archive
		if err != nil {
			err = &syncError{err}
		}
	}
	dirMu.Unlock()
	if !errors.Is(err, syscall.EXDEV) {
		return err
	}
	// Another file system: copy, sync, rename into place, sync the
	// archive directory; only then remove the journal's copy.
	data, err := readFile(fsys, s.path)
	if err != nil {
		return err
	}
	tmp := dst + tempSuffix
	if err := writeFile(fsys, tmp, data, true); err != nil {
		return &syncError{err}
	}
	if err := fsys.Rename(tmp, dst); err != nil {
		return err
	}
	err = fsys.SyncDir(archiveDir) // mutate:syncdir-archive-copy
	if err != nil {
		return &syncError{err}
	}
	return fsys.Remove(s.path)
}

// sameSegment refuses to overwrite a different file of the same name in
// the archive (another journal's segment): a file there is replaced only
// when it is this very segment, left in both directories by a crash.
func sameSegment(fsys fileSystem, src, dst string) error {
	if _, err := fsys.Stat(dst); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	a, err := readHeader(fsys, src)
	if err != nil {
		return err
	}
	b, err := readHeader(fsys, dst)
	if err != nil || a != b {
		return fmt.Errorf("journal: retention: %s already holds a different %s; not overwriting it", filepath.Dir(dst), filepath.Base(dst))
	}
	return nil
}

func readHeader(fsys fileSystem, path string) ([segHeaderSize]byte, error) {
	var h [segHeaderSize]byte
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return h, err
	}
	defer f.Close()
	if _, err := f.ReadAt(h[:], 0); err != nil && !errors.Is(err, io.EOF) {
		return h, err
	}
	return h, nil
}

// segSpan is what retention needs to know of a sealed segment.
type segSpan struct {
	firstSeq uint64
	nextSeq  uint64 // firstSeq + records
	newest   int64  // commit time of its last block (unix ns); 0 when it has none
}

// readSegSpan reads a sealed segment's header and hops from block header
// to block header (no CRC: recovery and Verify check those) to its end.
func readSegSpan(fsys fileSystem, s segInfo) (segSpan, error) {
	var sp segSpan
	data, release, err := fsys.Map(s.path)
	if err != nil {
		return sp, err
	}
	defer release()
	h, err := decodeSegHeader(data)
	if err != nil {
		return sp, fmt.Errorf("segment %s header: %w", s.name, err)
	}
	sp.firstSeq, sp.nextSeq = h.FirstSeq, h.FirstSeq
	off := int64(segHeaderSize)
	for off < int64(len(data)) && !allZero(data[off:min(off+blockHeaderSize, int64(len(data)))]) {
		bh, err := decodeBlockHeader(data[off:])
		if err == nil && bh.FirstSeq != sp.nextSeq {
			err = fmt.Errorf("block starts at seq %d, want %d", bh.FirstSeq, sp.nextSeq)
		}
		if err == nil && off+int64(bh.size()) > int64(len(data)) {
			err = errShort
		}
		if err != nil {
			return sp, fmt.Errorf("segment %s offset %d: %w", s.name, off, err)
		}
		sp.nextSeq += uint64(bh.Count)
		sp.newest = bh.TimeNs
		off += int64(bh.size())
	}
	return sp, nil
}

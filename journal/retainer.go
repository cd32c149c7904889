package journal

import (
	"errors"
	"fmt"
	"path/filepath"
)

// The retainer: an open journal's periodic retention pass (retention.go
// has the manifest and the file operations).
//
// One goroutine, started by Open when Config.Retention is enabled, runs a
// pass right away and then every Retention.Every; Close stops it (between
// two segments of a pass) and waits for it before it stops the flusher.
// A pass:
//
//  1. asks the flusher (a request on retainReq, answered between two
//     batches) for what must stay: the active segment, the last
//     checkpoint's segment and the oldest intent without an outcome;
//  2. finishes the segments a pass cut short left before the manifest's
//     first segment;
//  3. picks the longest prefix of sealed segments before those that
//     MaxAge or MaxBytes makes eligible and MinAge does not protect
//     (segment ages from their last block header, read once per segment);
//  4. writes the manifest for the new start (anchor: the next segment's
//     header), durably, and publishes the new start to the readers
//     (Journal.base; the Get index drops what is before it);
//  5. removes or archives the segments, oldest first, and syncs.
//
// A failed manifest write or a failed sync (steps 4, 5) is sticky for
// retention (the journal itself goes on appending): nothing is retried in
// this process, the error is logged and reported in Stats, and the next
// Open finishes whatever the manifest says is gone. A failed removal or
// rename (a file held open, on Windows) or read only ends that pass: the
// segments it left before the manifest's first one are finished by the
// next pass (step 2).

// retentionFloor is what the flusher says must stay.
type retentionFloor struct {
	active  uint64 // the segment being appended to
	ckptSeg uint64 // the segment the last checkpoint names (^0: none)
	intent  uint64 // seq of the oldest intent without an outcome; 0: none
}

// retentionFloor answers the retainer (flusher only).
func (j *Journal) retentionFloor() retentionFloor {
	f := retentionFloor{active: j.segIdx, ckptSeg: j.ckptSeg}
	for _, seq := range j.intents.open {
		if f.intent == 0 || seq < f.intent {
			f.intent = seq
		}
	}
	return f
}

// askFlusher returns the flusher's retentionFloor, or ErrClosed once the
// flusher is gone.
func (j *Journal) askFlusher() (retentionFloor, error) {
	req := make(chan retentionFloor, 1)
	select {
	case j.retainReq <- req:
	case <-j.donec:
		return retentionFloor{}, ErrClosed
	}
	select {
	case f := <-req:
		return f, nil
	case <-j.donec:
		return retentionFloor{}, ErrClosed
	}
}

// startRetainer starts the retention goroutine (Open, when enabled).
func (j *Journal) startRetainer() {
	go func() {
		defer close(j.retainDone)
		for {
			res, err := j.retain()
			if err != nil && !errors.Is(err, ErrClosed) {
				j.cfg.Logger.Warn("journal: retention pass failed", "dir", j.cfg.Dir, "err", err)
			}
			if j.cfg.retained != nil {
				j.cfg.retained(res, err)
			}
			select {
			case <-j.retainStop:
				return
			case <-j.cfg.afterTick(j.cfg.Retention.Every):
			}
		}
	}()
}

// stopRetainer stops the retention goroutine, if any, and waits for it.
func (j *Journal) stopRetainer() {
	if j.retainStop == nil {
		return
	}
	close(j.retainStop)
	<-j.retainDone
}

// retentionResult is what one pass did.
type retentionResult struct {
	segments int    // segments removed or archived
	bytes    int64  // their sizes
	first    uint64 // the first segment kept afterwards
}

// retain runs one retention pass (see the top of this file). Passes are
// serialized.
func (j *Journal) retain() (retentionResult, error) {
	var out retentionResult
	rc := &j.cfg.Retention
	r := &j.ret
	r.Lock()
	defer r.Unlock()
	out.first = j.base.Load()
	if r.err != nil {
		return out, r.err
	}
	if !rc.enabled() || !j.isOpen() {
		return out, nil
	}
	j.stats.retentionPasses.Add(1)
	fl, err := j.askFlusher()
	if err != nil {
		return out, err
	}
	segs, err := listSegmentFiles(j.cfg.fs, j.cfg.Dir)
	if err != nil {
		return out, err
	}
	base := j.base.Load()
	var pending, kept []segInfo
	for _, s := range segs {
		if s.index < base {
			pending = append(pending, s)
		} else {
			kept = append(kept, s)
		}
	}
	if len(pending) > 0 {
		if err := j.moveFailed(finishPending(&j.cfg, r.m, pending, &j.dirMu)); err != nil {
			return out, err
		}
	}
	// The eligible prefix.
	now := j.cfg.Now().UnixNano()
	var total int64
	for _, s := range kept {
		total += s.size
	}
	limit := min(fl.active, fl.ckptSeg)
	var plan []segInfo
	var bytes int64
	var next uint64 // the seq the segment after the plan must start at
	for i, s := range kept {
		if s.index >= limit || s.index != base+uint64(i) {
			break
		}
		sp, err := j.span(s)
		if err != nil {
			j.stats.retentionErrors.Add(1)
			return out, fmt.Errorf("journal: retention: %w", err)
		}
		if i > 0 && sp.firstSeq != next {
			j.stats.retentionErrors.Add(1)
			return out, fmt.Errorf("journal: retention: segment %s starts at seq %d, want %d", s.name, sp.firstSeq, next)
		}
		if fl.intent != 0 && sp.nextSeq > fl.intent {
			break // holds (or follows) an intent whose outcome is not journaled yet
		}
		if rc.MinAge > 0 && sp.newest >= now-int64(rc.MinAge) {
			break
		}
		old := rc.MaxAge > 0 && sp.newest < now-int64(rc.MaxAge)
		big := rc.MaxBytes > 0 && total > rc.MaxBytes
		if !old && !big {
			break
		}
		plan = append(plan, s)
		total -= s.size
		bytes += s.size
		next = sp.nextSeq
	}
	if len(plan) == 0 {
		return out, nil
	}
	if rc.ArchiveDir != "" {
		// A name taken in the archive by another file stops the pass before
		// anything changes.
		for _, s := range plan {
			if err := sameSegment(j.cfg.fs, s.path, filepath.Join(rc.ArchiveDir, s.name)); err != nil {
				j.stats.retentionErrors.Add(1)
				return out, err
			}
		}
	}
	// The anchor: the header of the first segment kept.
	cut := plan[len(plan)-1].index + 1
	hdr, err := readSegHeader(j.cfg.fs, filepath.Join(j.cfg.Dir, segmentName(cut)))
	if err != nil {
		j.stats.retentionErrors.Add(1)
		return out, fmt.Errorf("journal: retention: %w", err)
	}
	if hdr.Index != cut || hdr.FirstSeq != next {
		j.stats.retentionErrors.Add(1)
		return out, fmt.Errorf("journal: retention: segment %s header says segment %d from seq %d, want seq %d", segmentName(cut), hdr.Index, hdr.FirstSeq, next)
	}
	m := manifest{first: cut, firstSeq: hdr.FirstSeq, anchor: hdr.Prev, genesis: j.genesis,
		timeNs: now, archiveDir: rc.ArchiveDir}
	if r.m != nil {
		m.removed, m.archived, m.reclaimed = r.m.removed, r.m.archived, r.m.reclaimed
	}
	if rc.ArchiveDir != "" {
		m.archived += int64(len(plan))
	} else {
		m.removed += int64(len(plan))
	}
	m.reclaimed += bytes
	if err := j.retainFail(writeManifest(j.cfg.fs, j.cfg.Dir, &m)); err != nil {
		return out, err
	}
	r.m = &m
	j.publishBase(cut, hdr.FirstSeq)
	for _, s := range plan {
		delete(r.spans, s.index)
	}
	n, moved, err := moveSegments(j.cfg.fs, j.cfg.Dir, plan, rc.ArchiveDir, &j.dirMu, j.retainStop)
	out.segments, out.bytes, out.first = n, moved, cut
	if rc.ArchiveDir != "" {
		j.stats.segmentsArchived.Add(int64(n))
	} else {
		j.stats.segmentsRemoved.Add(int64(n))
	}
	j.stats.bytesReclaimed.Add(moved)
	if err := j.moveFailed(err); err != nil {
		return out, err
	}
	j.cfg.Logger.Info("journal: retention", "segments", n, "bytes", moved, "first_segment", segmentName(cut),
		"first_seq", hdr.FirstSeq, "archive_dir", rc.ArchiveDir)
	return out, nil
}

// moveFailed handles an error of moveSegments: a failed sync is sticky
// (retainFail); a failed removal or rename only ends the pass.
func (j *Journal) moveFailed(err error) error {
	var se *syncError
	if err == nil || errors.As(err, &se) {
		return j.retainFail(err)
	}
	j.stats.retentionErrors.Add(1)
	return fmt.Errorf("journal: retention: %w (the next pass tries again)", err)
}

// retainFail makes err, if any, retention's sticky error (the manifest
// write, a sync).
func (j *Journal) retainFail(err error) error {
	if err == nil {
		return nil
	}
	j.ret.err = fmt.Errorf("journal: retention stopped for the life of the process: %w", err)
	j.stats.retentionErrors.Add(1)
	j.stats.retentionFailed.Store(true)
	j.cfg.Logger.Error("journal: retention failed; no more segments are removed until a restart (the next Open finishes what the manifest records)",
		"dir", j.cfg.Dir, "err", err)
	return j.ret.err
}

// span returns (and caches) what retention needs of a sealed segment.
func (j *Journal) span(s segInfo) (segSpan, error) {
	if sp, ok := j.ret.spans[s.index]; ok {
		return sp, nil
	}
	sp, err := readSegSpan(j.cfg.fs, s)
	if err != nil {
		return sp, err
	}
	if j.ret.spans == nil {
		j.ret.spans = map[uint64]segSpan{}
	}
	j.ret.spans[s.index] = sp
	return sp, nil
}

// publishBase makes first the journal's first segment for the readers:
// Get's index forgets the blocks before it, and lookups and scans skip
// segments before it that disappear under them.
func (j *Journal) publishBase(first, firstSeq uint64) {
	j.base.Store(first)
	j.keptSeq.Store(firstSeq)
	x := &j.index
	x.mu.Lock()
	x.prune(first)
	x.mu.Unlock()
}

func readSegHeader(fsys fileSystem, path string) (segHeader, error) {
	b, err := readHeader(fsys, path)
	if err != nil {
		return segHeader{}, err
	}
	h, err := decodeSegHeader(b[:])
	if err != nil {
		return h, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return h, nil
}

// Retention reports where retention left the journal's start (nil when
// nothing was ever removed). Safe for concurrent use.
func (j *Journal) Retention() *RetentionInfo {
	j.ret.Lock()
	defer j.ret.Unlock()
	return j.ret.m.info(0)
}

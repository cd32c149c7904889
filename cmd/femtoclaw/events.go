package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
)

// eventsFile is the telemetry events file (telemetry.events), rotated by
// size: once it holds maxBytes or more, at the end of the event line being
// written, events.jsonl becomes events.jsonl.1, .1 becomes .2 and so on up
// to keep old files (the oldest one is removed), and a new events.jsonl is
// started. An event — one JSON line — is never split between two files and
// none is dropped by a rotation: a write that crosses the bound goes to the
// old file up to the end of the line that crosses it, the rest to the new
// one, and a line still unfinished at the end of a write holds the
// rotation back until its newline arrives. A file can so exceed maxBytes
// by at most one line.
//
// maxBytes 0 never rotates; keep 0 keeps no old file (a rotation starts
// the file afresh). The telemetry exporter is its one writer; Write and
// Close are serialized all the same. After a failed rotation the next
// write tries to open the file again.
type eventsFile struct {
	mu        sync.Mutex
	path      string
	maxBytes  int64
	keep      int
	f         *os.File
	size      int64
	lineStart bool // the file ends at a line boundary
	closed    bool
}

// Bounds of telemetry.events_max_bytes and telemetry.events_keep.
const (
	minEventsMaxBytes = 4 << 10
	maxEventsKeep     = 1000
)

// openEventsFile opens (appending) or creates the events file at path. A
// last line left unfinished by an earlier process (a crash) is ended, so
// that the next event starts a line of its own.
func openEventsFile(path string, maxBytes int64, keep int) (*eventsFile, error) {
	switch {
	case maxBytes < 0 || maxBytes > 0 && maxBytes < minEventsMaxBytes:
		return nil, fmt.Errorf("telemetry.events_max_bytes %d: want 0 (never rotate) or at least %d", maxBytes, minEventsMaxBytes)
	case keep < 0 || keep > maxEventsKeep:
		return nil, fmt.Errorf("telemetry.events_keep %d: want 0..%d", keep, maxEventsKeep)
	}
	e := &eventsFile{path: path, maxBytes: maxBytes, keep: keep}
	if err := e.open(); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *eventsFile) open() error {
	f, err := os.OpenFile(e.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("telemetry events: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("telemetry events: %w", err)
	}
	e.f, e.size, e.lineStart = f, fi.Size(), true
	if e.size > 0 {
		last := make([]byte, 1)
		if r, err := os.Open(e.path); err == nil {
			_, err = r.ReadAt(last, e.size-1)
			r.Close()
			if err == nil && last[0] != '\n' {
				e.lineStart = false
				_, _ = e.write([]byte("\n"))
			}
		}
	}
	return nil
}

func (e *eventsFile) write(p []byte) (int, error) {
	n, err := e.f.Write(p)
	e.size += int64(n)
	if n > 0 {
		e.lineStart = p[n-1] == '\n'
	}
	return n, err
}

// Write writes p, rotating at the first line end at or past the bound.
func (e *eventsFile) Write(p []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return 0, os.ErrClosed
	}
	done := 0
	for len(p) > 0 {
		if e.f == nil || e.maxBytes > 0 && e.size >= e.maxBytes && e.lineStart {
			if err := e.rotate(); err != nil {
				return done, err
			}
		}
		chunk := p
		if e.maxBytes > 0 && e.size+int64(len(p)) > e.maxBytes {
			// Up to the end of the line that reaches the bound.
			from := max(e.maxBytes-e.size-1, 0)
			if i := indexByteFrom(p, '\n', int(from)); i >= 0 {
				chunk = p[:i+1]
			}
		}
		n, err := e.write(chunk)
		done += n
		if err != nil {
			return done, err
		}
		p = p[n:]
	}
	return done, nil
}

func indexByteFrom(p []byte, c byte, from int) int {
	for i := from; i < len(p); i++ {
		if p[i] == c {
			return i
		}
	}
	return -1
}

// rotate shifts the old files up by one, moves the current file to .1 and
// opens a new one (or, with e.f nil after a failed rotation, only opens).
func (e *eventsFile) rotate() error {
	if e.f != nil {
		err := e.f.Close()
		e.f = nil
		if err != nil {
			return fmt.Errorf("telemetry events: %w", err)
		}
		if e.keep == 0 {
			if err := os.Remove(e.path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("telemetry events: %w", err)
			}
		} else {
			old := func(i int) string { return e.path + "." + strconv.Itoa(i) }
			if err := os.Remove(old(e.keep)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("telemetry events: %w", err)
			}
			for i := e.keep - 1; i >= 1; i-- {
				if err := os.Rename(old(i), old(i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
					return fmt.Errorf("telemetry events: %w", err)
				}
			}
			if err := os.Rename(e.path, old(1)); err != nil {
				return fmt.Errorf("telemetry events: %w", err)
			}
		}
	}
	return e.open()
}

// Close closes the file; later writes fail with os.ErrClosed.
func (e *eventsFile) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed || e.f == nil {
		e.closed = true
		return nil
	}
	e.closed = true
	return e.f.Close()
}

var _ io.WriteCloser = (*eventsFile)(nil)

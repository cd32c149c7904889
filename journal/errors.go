package journal

import (
	"errors"
	"fmt"
)

var (
	// ErrClosed is returned by Append, AppendAsync and readers of a Journal
	// after Close, and by every call to Close after the first.
	ErrClosed = errors.New("journal: closed")

	// ErrCorrupt is wrapped by Open, Verify and the readers when a segment
	// or block before the tail fails its CRC, its chain link, its sequence
	// numbering or decoding. The wrapping error names the segment file,
	// byte offset and block index. Callers classify it as MEMORY_ERROR; the
	// journal refuses to open until an operator repairs or archives it.
	ErrCorrupt = errors.New("journal: corrupt")

	// ErrTornTail is wrapped by Verify (and reported, not returned, by
	// Open) when the last block of the last segment is incomplete: the
	// trace of a crash during a write. Open truncates it.
	ErrTornTail = errors.New("journal: torn tail")

	// ErrFailed is the sticky error class: once a write or sync fails, every
	// later Append and Sync returns an error wrapping ErrFailed and the
	// underlying cause (its message names the last seq known durable),
	// Ready reports false and Err returns it, for the life of the process:
	// Open refuses the same directory until the process restarts. See the
	// package documentation for what is known after a failure. Callers
	// classify it as MEMORY_ERROR.
	ErrFailed = errors.New("journal: failed")

	// ErrOverloaded is returned (through its callback) by AppendAsync when
	// Config.MaxQueuedRecords records are already queued: nothing was
	// written and the journal is healthy; the caller may retry later.
	// Callers classify it as overload (the pipeline's OVERLOADED, HTTP 503
	// with Retry-After), not as MEMORY_ERROR.
	ErrOverloaded = errors.New("journal: overloaded: too many records queued")

	// ErrTooLarge is returned by Append for a record whose encoding exceeds
	// the block size bound.
	ErrTooLarge = errors.New("journal: record too large")
)

// IsCorruption reports whether err marks on-disk damage (ErrCorrupt).
func IsCorruption(err error) bool { return errors.Is(err, ErrCorrupt) }

// BlockError locates damage found by Open, Verify or a reader. It unwraps
// to its Kind (ErrCorrupt or ErrTornTail) and to the underlying cause.
type BlockError struct {
	Kind    error  // ErrCorrupt or ErrTornTail
	Segment string // segment file name
	Offset  int64  // byte offset of the block (or header) in the segment
	Block   int64  // block index in the segment, from 0; -1 for the segment header
	Seq     uint64 // first seq the block should hold, when known
	Err     error  // what was wrong
}

func (e *BlockError) Error() string {
	where := fmt.Sprintf("segment %s offset %d block %d", e.Segment, e.Offset, e.Block)
	if e.Block < 0 {
		where = fmt.Sprintf("segment %s header", e.Segment)
	}
	if e.Seq != 0 {
		where += fmt.Sprintf(" (seq %d)", e.Seq)
	}
	return fmt.Sprintf("%v: %s: %v", e.Kind, where, e.Err)
}

// Unwrap returns the kind and the cause.
func (e *BlockError) Unwrap() []error { return []error{e.Kind, e.Err} }

package stats

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Snapshot binary encoding, version 1.
//
//	+------+---------+---------+----------------+---------------+-------------+-----------------+
//	| 0xFC | version | sigFigs | maxValue       | clamped       | base        | entries ...     |
//	| 1 B  | 1 B = 1 | 1 B 1-3 | uvarint, ≥ 1   | uvarint       | uvarint     | uvarint each    |
//	+------+---------+---------+----------------+---------------+-------------+-----------------+
//
// base is the index of the first non-empty bucket (0 when there is none).
// The entries run to the end of the input and walk the buckets upward from
// base. An even entry 2c (c ≥ 1) is one bucket holding c samples; an odd
// entry 2z−1 (z ≥ 1) skips z empty buckets. Bucket indexes are those of the
// log-linear layout described in histogram.go for the k that sigFigs gives.
//
// The encoding is canonical: the first and last entries are counts, two
// skips are never adjacent, no bucket lies beyond the bucket of maxValue,
// and the total count fits in 64 bits. UnmarshalBinary rejects anything
// else, so an accepted input re-encodes to the same bytes. There is no
// checksum: transports carry their own.
//
// The constants below are part of the wire format and should not be changed.
const (
	encMagic   = 0xFC
	encVersion = 1
	encHeader  = 3 // magic, version, sigFigs
)

// ErrBadEncoding is returned (wrapped) by Snapshot.UnmarshalBinary when the
// input is not a canonical version-1 snapshot encoding.
var ErrBadEncoding = errors.New("stats: bad snapshot encoding")

// MarshalBinary encodes the snapshot in the compact format above. It never
// fails.
func (s *Snapshot) MarshalBinary() ([]byte, error) {
	if s == nil {
		s = emptySnapshot(nil)
	}
	b := make([]byte, 0, encHeader+3*binary.MaxVarintLen64+len(s.counts)*2)
	b = append(b, encMagic, encVersion, byte(s.sigFigs))
	b = binary.AppendUvarint(b, uint64(s.maxValue))
	b = binary.AppendUvarint(b, s.clamped)
	b = binary.AppendUvarint(b, uint64(s.base))
	var zeros uint64
	for _, c := range s.counts {
		if c == 0 {
			zeros++
			continue
		}
		if zeros > 0 {
			b = binary.AppendUvarint(b, 2*zeros-1)
			zeros = 0
		}
		if c > math.MaxUint64/2 {
			// A count this large cannot be encoded; it cannot arise from
			// recording either (2^63 samples).
			c = math.MaxUint64 / 2
		}
		b = binary.AppendUvarint(b, 2*c)
	}
	return b, nil
}

// UnmarshalBinary replaces s with the decoded snapshot. It allocates at most
// one slice of the decoded histogram's bucket count (bounded by SigFigs and
// MaxValue) and fails with an error wrapping ErrBadEncoding on any input
// that MarshalBinary could not have produced. s is unchanged on error.
// Decode into a new Snapshot that no other goroutine can see yet: this is
// the one method that writes to a Snapshot.
func (s *Snapshot) UnmarshalBinary(data []byte) error {
	if len(data) < encHeader || data[0] != encMagic {
		return fmt.Errorf("%w: missing header", ErrBadEncoding)
	}
	if data[1] != encVersion {
		return fmt.Errorf("%w: version %d", ErrBadEncoding, data[1])
	}
	sigFigs := int(data[2])
	if sigFigs < 1 || sigFigs > 3 {
		return fmt.Errorf("%w: sigFigs %d", ErrBadEncoding, sigFigs)
	}
	k := subBucketBits(sigFigs)
	p := data[encHeader:]
	next := func(what string) (uint64, error) {
		v, n := binary.Uvarint(p)
		if n <= 0 {
			return 0, fmt.Errorf("%w: truncated %s", ErrBadEncoding, what)
		}
		if n != len(binary.AppendUvarint(nil, v)) {
			return 0, fmt.Errorf("%w: non-minimal varint in %s", ErrBadEncoding, what)
		}
		p = p[n:]
		return v, nil
	}
	maxValue, err := next("maxValue")
	if err != nil {
		return err
	}
	if maxValue < 1 || maxValue > uint64(MaxMaxValue) {
		return fmt.Errorf("%w: maxValue %d", ErrBadEncoding, maxValue)
	}
	clamped, err := next("clamped")
	if err != nil {
		return err
	}
	base, err := next("base")
	if err != nil {
		return err
	}
	nBuckets := uint64(bucketIndex(maxValue, k) + 1)
	if base >= nBuckets {
		return fmt.Errorf("%w: base %d beyond %d buckets", ErrBadEncoding, base, nBuckets)
	}
	r := Snapshot{sigFigs: sigFigs, k: k, maxValue: int64(maxValue), clamped: clamped}
	if len(p) == 0 {
		if base != 0 {
			return fmt.Errorf("%w: base %d without buckets", ErrBadEncoding, base)
		}
		*s = r
		return nil
	}
	// Two passes: validate and size, then fill, so a hostile input cannot
	// make us allocate more than the histogram's own bucket count.
	var n, total uint64
	prevSkip := true // a skip may not come first
	for q := p; len(q) > 0; {
		v, m := binary.Uvarint(q)
		if m <= 0 {
			return fmt.Errorf("%w: truncated entry", ErrBadEncoding)
		}
		if m != len(binary.AppendUvarint(nil, v)) {
			return fmt.Errorf("%w: non-minimal varint entry", ErrBadEncoding)
		}
		q = q[m:]
		switch {
		case v == 0:
			return fmt.Errorf("%w: empty count entry", ErrBadEncoding)
		case v&1 == 1:
			if prevSkip {
				return fmt.Errorf("%w: misplaced skip", ErrBadEncoding)
			}
			n += (v + 1) / 2
			prevSkip = true
		default:
			c := v / 2
			if total+c < total {
				return fmt.Errorf("%w: total count overflows", ErrBadEncoding)
			}
			total += c
			n++
			prevSkip = false
		}
		if n > nBuckets-base {
			return fmt.Errorf("%w: buckets beyond maxValue", ErrBadEncoding)
		}
	}
	if prevSkip {
		return fmt.Errorf("%w: trailing skip", ErrBadEncoding)
	}
	counts := make([]uint64, n)
	i := 0
	for len(p) > 0 {
		v, m := binary.Uvarint(p)
		p = p[m:]
		if v&1 == 1 {
			i += int((v + 1) / 2)
		} else {
			counts[i] = v / 2
			i++
		}
	}
	r.base, r.counts, r.total = int(base), counts, total
	*s = r
	return nil
}

package pipeline

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/femtoclaw/femtoclaw-go/journal"
)

// Key index snapshots. Rebuilding the key index from the journal alone
// means reading every record of the retention window (a day at 10k/s is
// 864M records: minutes). So the index is also written to a snapshot file
// — every IdempotencyConfig.SnapshotEvery and at shutdown — and the
// rebuild loads the snapshot, then reads only the journal records after
// the position it covers.
//
// Layout (little-endian; part of the on-disk format, do not change it —
// a new layout needs a new magic):
//
//	+----------------+-------------+---------------+----------------+-------------+
//	| magic "FCIDXv1\n" | genesis [32] | covered seq u64 | written ns i64 | count u64 |
//	+----------------+-------------+---------------+----------------+-------------+
//	count × +-----------+------------+--------+------------+-----------+
//	        | keyID [16] | callID [16] | at i64 | idLen u8   | id bytes  |
//	        +-----------+------------+--------+------------+-----------+
//	+-----------------------------------------+
//	| CRC-32C (Castagnoli) of all before, u32 |
//	+-----------------------------------------+
//
// genesis is the journal's genesis hash: a snapshot of another journal is
// ignored. covered is the journal's head sequence number read before the
// entries were copied, so every record at or below it whose key the index
// held is in the file; records above it are read from the journal on
// rebuild (a key found in both is taken once). An entry whose execution
// was still running when the snapshot was taken may have no record in the
// journal at all (the process died first): a retry of it reads no answer
// back, and the key is treated as never used — safe, because a
// write-effect call commits its intent before it runs.
const snapMagic = "FCIDXv1\n"

var snapCRC = crc32.MakeTable(crc32.Castagnoli)

// journalHead is what snapshots need from the journal to say which records
// they cover; *journal.Journal implements it.
type journalHead interface {
	Head() (seq uint64, hash string)
}

// journalRecovery names the journal a snapshot belongs to (its genesis
// hash); *journal.Journal implements it.
type journalRecovery interface {
	Recovery() journal.RecoveryReport
}

// journalIdentity returns the genesis hash of j, if j can say it.
func journalIdentity(j Journal) ([32]byte, bool) {
	var g [32]byte
	jr, ok := j.(journalRecovery)
	if !ok {
		return g, false
	}
	b, err := hex.DecodeString(jr.Recovery().Genesis)
	if err != nil || len(b) != len(g) {
		return g, false
	}
	copy(g[:], b)
	return g, true
}

type snapEntry struct {
	id     keyID
	call   callID
	at     int64
	execID string
}

// writeSnapshot writes the index's entries to path atomically (temp file,
// fsync, rename, directory fsync). It returns the number of entries.
func (ix *keyIndex) writeSnapshot(path string, genesis [32]byte, covered uint64) (int, error) {
	ix.mu.Lock()
	ents := make([]snapEntry, 0, len(ix.keys))
	for id, e := range ix.keys {
		ents = append(ents, snapEntry{id: id, call: e.call, at: e.at, execID: e.execID})
	}
	ix.mu.Unlock()
	b := make([]byte, 0, 64+len(ents)*80)
	b = append(b, snapMagic...)
	b = append(b, genesis[:]...)
	b = binary.LittleEndian.AppendUint64(b, covered)
	b = binary.LittleEndian.AppendUint64(b, uint64(ix.now().UnixNano()))
	b = binary.LittleEndian.AppendUint64(b, uint64(len(ents)))
	for _, e := range ents {
		b = append(b, e.id[:]...)
		b = append(b, e.call[:]...)
		b = binary.LittleEndian.AppendUint64(b, uint64(e.at))
		id := e.execID[:min(len(e.execID), 255)]
		b = append(b, byte(len(id)))
		b = append(b, id...)
	}
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, snapCRC))
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, err
	}
	if _, err = f.Write(b); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return 0, err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync() // best effort: a lost snapshot only costs a longer rebuild
		d.Close()
	}
	return len(ents), nil
}

var errSnapshot = errors.New("pipeline: idempotency snapshot")

// readSnapshot loads path's entries newer than cutoff into the index and
// returns the sequence number they cover. A missing file is (0, nil); a
// damaged or foreign one is an error and loads nothing.
func (ix *keyIndex) readSnapshot(path string, genesis [32]byte, cutoff int64) (uint64, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	const head = len(snapMagic) + 32 + 8 + 8 + 8
	if len(b) < head+4 || string(b[:len(snapMagic)]) != snapMagic {
		return 0, fmt.Errorf("%w %s: not a snapshot of this format", errSnapshot, path)
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, snapCRC) != sum {
		return 0, fmt.Errorf("%w %s: checksum mismatch", errSnapshot, path)
	}
	p := body[len(snapMagic):]
	if !bytes.Equal(p[:32], genesis[:]) {
		return 0, fmt.Errorf("%w %s: taken of another journal", errSnapshot, path)
	}
	covered := binary.LittleEndian.Uint64(p[32:])
	count := binary.LittleEndian.Uint64(p[48:])
	p = p[56:]
	ents := make([]snapEntry, 0, min(count, uint64(len(p)/41)))
	for range count {
		if len(p) < 41 {
			return 0, fmt.Errorf("%w %s: truncated entry", errSnapshot, path)
		}
		var e snapEntry
		copy(e.id[:], p)
		copy(e.call[:], p[16:])
		e.at = int64(binary.LittleEndian.Uint64(p[32:]))
		n := int(p[40])
		p = p[41:]
		if len(p) < n {
			return 0, fmt.Errorf("%w %s: truncated entry", errSnapshot, path)
		}
		e.execID = string(p[:n])
		p = p[n:]
		if e.at >= cutoff {
			ents = append(ents, e)
		}
	}
	if len(p) != 0 {
		return 0, fmt.Errorf("%w %s: %d bytes after the entries", errSnapshot, path, len(p))
	}
	// Oldest first, so that the index forgets in arrival order.
	sortSnapEntries(ents)
	ix.mu.Lock()
	if len(ix.keys) == 0 {
		ix.keys = make(map[keyID]*keyEntry, len(ents))
	}
	ix.order = slices.Grow(ix.order, len(ents))
	all := make([]keyEntry, len(ents)) // one allocation for every entry
	for i, e := range ents {
		if ix.keys[e.id] == nil {
			all[i] = keyEntry{id: e.id, call: e.call, at: e.at, execID: e.execID}
			ix.keys[e.id] = &all[i]
			ix.order = append(ix.order, e.id)
		}
	}
	ix.expireLocked()
	ix.mu.Unlock()
	return covered, nil
}

func sortSnapEntries(ents []snapEntry) {
	slices.SortFunc(ents, func(a, b snapEntry) int {
		switch {
		case a.at < b.at:
			return -1
		case a.at > b.at:
			return 1
		}
		return 0
	})
}

// snapshotLoop writes a snapshot every interval while the index changed,
// until stop closes. It is owned by the Runtime (shutdown closes stop and
// waits for done, then writes the last snapshot itself).
func (rt *Runtime) snapshotLoop(every time.Duration, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			rt.snapshotKeys()
		}
	}
}

// snapshotKeys writes the key index's snapshot, if one is configured and
// the index is whole (a partial index must not pose as the whole).
func (rt *Runtime) snapshotKeys() {
	ix := rt.keys
	path := rt.cfg.Idempotency.SnapshotFile
	if ix == nil || path == "" || !ix.isLoaded() || !ix.whole {
		return
	}
	jh, ok := rt.journal.(journalHead)
	if !ok || !ix.hasGenesis {
		return
	}
	covered, _ := jh.Head()
	start := time.Now()
	n, err := ix.writeSnapshot(path, ix.genesis, covered)
	if err != nil {
		rt.log.Warn("idempotency key index snapshot not written; the next start rebuilds from the journal", "path", path, "err", err)
		return
	}
	rt.log.Debug("idempotency key index snapshot written", "path", path, "keys", n, "covered_seq", covered, "duration", time.Since(start).String())
}

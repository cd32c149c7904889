package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/femtoclaw/femtoclaw-go/journal"
)

// A large journal for the startup scenario is built once and kept: in
// CACHE/fcload-scenario-journal-<build>-<records>/data, a data directory
// whose journal holds that many execution records, written straight into
// the journal (interval durability, synced by Close) rather than executed,
// which would take minutes. The records are the ones the runtime writes
// for a successful noop call, each with its own execution id. The
// directory is renamed into place only once complete, so an interrupted
// build is never used; it is keyed by this build of fcload (its VCS
// revision, or its module version), so a journal written by another
// version's code is never measured. Starting a server on it appends its
// startup and shutdown records, as on any data directory.

// cachedJournalDir returns the data directory holding a journal of n
// records, building it first if it is not cached; a build removes the
// journals other builds of fcload left in the cache. progress receives a
// line on a build.
func cachedJournalDir(cache string, n int, progress io.Writer) (string, error) {
	key := buildKey()
	dir := filepath.Join(cache, fmt.Sprintf("%s%s-%d", journalCachePrefix, key, n))
	data := filepath.Join(dir, "data")
	if _, err := os.Stat(filepath.Join(data, "journal")); err == nil {
		return data, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(dir, "building-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	removeStaleJournals(cache, key, progress)
	fmt.Fprintf(progress, "building a journal of %s records in %s (kept for later runs)…\n", groupInt(n), dir)
	start := time.Now()
	if err := writeJournal(filepath.Join(tmp, "journal"), n); err != nil {
		return "", fmt.Errorf("building the journal: %w", err)
	}
	if err := os.Chmod(tmp, 0o700); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, data); err != nil {
		if _, serr := os.Stat(filepath.Join(data, "journal")); serr == nil {
			return data, nil // another run built it meanwhile
		}
		return "", err
	}
	fmt.Fprintf(progress, "journal built in %v\n", time.Since(start).Round(time.Millisecond))
	return data, nil
}

// journalCachePrefix starts the name of every cached journal directory.
const journalCachePrefix = "fcload-scenario-journal-"

// removeStaleJournals removes the cached journals of builds other than
// key's.
func removeStaleJournals(cache, key string, progress io.Writer) {
	ents, _ := os.ReadDir(cache)
	for _, e := range ents {
		name := e.Name()
		if !e.IsDir() || !strings.HasPrefix(name, journalCachePrefix) || strings.HasPrefix(name, journalCachePrefix+key+"-") {
			continue
		}
		if err := os.RemoveAll(filepath.Join(cache, name)); err == nil {
			fmt.Fprintf(progress, "removed %s, a journal another build of fcload left\n", filepath.Join(cache, name))
		}
	}
}

// buildKey names this build of fcload: its VCS revision, when it was
// built from a clean tree; else the SHA-256 of the executable (a build
// without VCS information, or from a modified tree, is keyed by its
// bytes).
func buildKey() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev, dirty := "", false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if rev != "" && !dirty {
			return rev[:min(len(rev), 12)]
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return "unknown"
	}
	f, err := os.Open(exe)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "unknown"
	}
	return "sha256-" + hex.EncodeToString(h.Sum(nil))[:12]
}

// writeJournal appends n noop execution records to a new journal in dir.
func writeJournal(dir string, n int) error {
	j, err := journal.Open(journal.Config{Dir: dir, Durability: journal.DurabilityInterval, SyncInterval: time.Second})
	if err != nil {
		return err
	}
	const window = 32 << 10 // records queued at once, below the journal's MaxQueuedRecords
	free := make(chan *journal.Record, window)
	for range window {
		free <- new(journal.Record)
	}
	var (
		mu    sync.Mutex
		first error
	)
	done := func(r *journal.Record) func(uint64, error) {
		return func(_ uint64, err error) {
			if err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
			free <- r
		}
	}
	ids := newExecIDs()
	args := []byte("{}")
	digest := sha256.Sum256(args)
	for range n {
		r := <-free
		*r = journal.Record{Kind: journal.KindExecution, ExecutionID: ids.next(), Principal: "local-admin", Capability: "noop",
			ArgsDigest: digest, Args: args, Decision: "AUTHORIZED", Rule: "default.noop-echo", State: "COMPLETED", Status: "success",
			Result: args, Timings: journal.Timings{ValidateNs: 900, AuthorizeNs: 300, AdmitNs: 100, ExecuteNs: 150, TotalNs: 25000}}
		j.AppendAsync(r, done(r))
		mu.Lock()
		err := first
		mu.Unlock()
		if err != nil {
			j.Close()
			return err
		}
	}
	if err := j.Close(); err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	return first
}

// execIDs makes execution ids in the runtime's format ("exec-" and a
// UUIDv7), from crypto/rand read in bulk.
type execIDs struct {
	buf []byte
	off int
}

func newExecIDs() *execIDs { return &execIDs{buf: make([]byte, 10<<12), off: 10 << 12} }

func (g *execIDs) next() string {
	if g.off+10 > len(g.buf) {
		rand.Read(g.buf)
		g.off = 0
	}
	var u [16]byte
	ms := uint64(time.Now().UnixMilli())
	binary.BigEndian.PutUint64(u[:8], ms<<16)
	copy(u[6:], g.buf[g.off:g.off+10])
	g.off += 10
	u[6] = u[6]&0x0f | 0x70 // version 7
	u[8] = u[8]&0x3f | 0x80 // variant 10
	var out [41]byte
	copy(out[:], "exec-")
	h := out[5:]
	hex.Encode(h[0:8], u[0:4])
	h[8] = '-'
	hex.Encode(h[9:13], u[4:6])
	h[13] = '-'
	hex.Encode(h[14:18], u[6:8])
	h[18] = '-'
	hex.Encode(h[19:23], u[8:10])
	h[23] = '-'
	hex.Encode(h[24:36], u[10:16])
	return string(out[:])
}

// groupInt prints n with comma separators.
func groupInt(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// One writer. A journal, and the data directory around it, is written by
// one process at a time. LockDir takes an exclusive advisory lock on a
// file named LOCK in a directory (flock on unix, LockFileEx on windows,
// as Pebble and etcd do) and records in it who holds it: the process id,
// its command line and, once known, its listeners. The kernel releases
// the lock when the holder exits, however it exits (SIGKILL included), so
// a lock is never stale; the description in the file may be, and is
// rewritten by the next holder.
//
// Open takes the lock on the journal's own directory, so two journals
// can never write one directory even inside one process; the CLI also
// locks the whole data directory (journal, token, TLS material) before it
// touches any of them.

// LockFileName is the name of the lock file in a locked directory.
const LockFileName = "LOCK"

// ErrLocked is returned (wrapped in a *LockedError) when another process
// holds the lock.
var ErrLocked = errors.New("journal: directory is locked by another writer")

// Holder describes the process that holds a directory lock.
type Holder struct {
	PID       int       `json:"pid"`
	Command   string    `json:"command"`
	Listeners []string  `json:"listeners,omitempty"`
	Since     time.Time `json:"since"`
}

func (h Holder) String() string {
	if h.PID == 0 {
		return "a process that has not described itself yet"
	}
	s := fmt.Sprintf("pid %d (%s), since %s", h.PID, h.Command, h.Since.UTC().Format(time.RFC3339))
	if len(h.Listeners) > 0 {
		s += ", listening on " + strings.Join(h.Listeners, ", ")
	}
	return s
}

// LockedError is the refusal to lock a directory another process holds;
// it names the holder. errors.Is(err, ErrLocked) holds.
type LockedError struct {
	Dir    string
	Holder Holder
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("%s is in use by another writer: %s; stop it first (readers such as `journal verify` need no lock)", e.Dir, e.Holder)
}

// Unwrap returns ErrLocked.
func (e *LockedError) Unwrap() error { return ErrLocked }

// DirLock is a held directory lock. Its methods are safe for one goroutine
// at a time; Unlock releases it (so does the process's exit).
type DirLock struct {
	f      *os.File
	dir    string
	holder Holder
}

// LockDir creates dir if needed and takes its lock, recording the
// calling process as the holder with the given command description (for
// example "femtoclaw serve"). If another process holds it, LockDir fails
// at once with a *LockedError naming that process.
func LockDir(dir, command string) (*DirLock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("journal: lock: %w", err)
	}
	path := filepath.Join(dir, LockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal: lock: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		if errors.Is(err, errWouldBlock) {
			return nil, &LockedError{Dir: dir, Holder: readHolder(path)}
		}
		return nil, fmt.Errorf("journal: lock %s: %w", path, err)
	}
	l := &DirLock{f: f, dir: dir, holder: Holder{PID: os.Getpid(), Command: command, Since: time.Now()}}
	if err := l.write(); err != nil {
		l.Unlock()
		return nil, err
	}
	return l, nil
}

// SetListeners records the addresses the holder listens on, so a refused
// second writer can say where the first one is.
func (l *DirLock) SetListeners(addrs []string) error {
	l.holder.Listeners = append([]string(nil), addrs...)
	return l.write()
}

// Dir returns the locked directory.
func (l *DirLock) Dir() string { return l.dir }

// Unlock releases the lock. The LOCK file stays (removing it would let a
// process that opened it before the removal lock a file nobody else sees).
func (l *DirLock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := unlockFile(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}

func (l *DirLock) write() error {
	b, _ := json.Marshal(l.holder)
	b = append(b, '\n')
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("journal: lock: %w", err)
	}
	if _, err := l.f.WriteAt(b, 0); err != nil {
		return fmt.Errorf("journal: lock: %w", err)
	}
	return nil
}

// readHolder reads a lock file's description; a missing or half-written
// one gives the zero Holder.
func readHolder(path string) Holder {
	var h Holder
	b, err := os.ReadFile(path)
	if err == nil {
		_ = json.Unmarshal(b, &h)
	}
	return h
}

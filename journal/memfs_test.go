package journal

import (
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// memFS is an in-memory fileSystem that can simulate a power loss
// (crashClone): a file keeps what a sync made durable, plus, optionally, a
// seeded random choice of the pages written since; a directory keeps the
// entries (creations, renames, removals) its last SyncDir saw.
//
// The model is deliberately stricter than Linux, in the ways the journal's
// design says it does not rely on:
//
//   - Datasync persists the written pages within the file's durable size
//     only; a size change (an extension by a write, Preallocate, O_TRUNC)
//     is durable after Sync alone. The journal gives every segment its
//     final size and Syncs it before a block is written, so its block
//     fdatasyncs never need a size change.
//   - A directory entry is durable only after SyncDir of its directory,
//     whatever the order of operations; directories themselves are always
//     durable (MkdirAll).
//   - Pages are 4 KiB; a page is kept whole or not at all.
//   - With randomDirOps set, a power loss also keeps a seeded random part
//     of the directory operations (creations, removals, renames) since
//     the last SyncDir of their directory, in any order — each one whole:
//     a rename keeps its old name or gets its new one, never neither,
//     unless one directory of a rename across two was synced and the
//     other not. Without it, such operations are all lost.
type memFS struct {
	mu      sync.Mutex
	files   map[string]*memInode // the namespace as it is now
	durable map[string]*memInode // the namespace a power loss would keep
	dirs    map[string]bool
	// hook, if set, is called after every operation that changes state
	// (write, truncate, datasync, sync, create, rename, remove, syncdir),
	// with mu held: a test may call crashCloneLocked from it.
	hook func(op, path string)

	randomDirOps bool
	dirOps       []memDirOp // directory operations not yet synced, in order
	dirOpGroup   int
}

// memDirOp is one directory's half of a directory operation: name comes
// to point at in (add), or stops pointing at it (drop, in == the inode it
// pointed at). The two halves of a rename share a group.
type memDirOp struct {
	dir, name string
	in        *memInode
	add       bool
	group     int
}

func (m *memFS) logDirOp(group int, name string, in *memInode, add bool) {
	m.dirOps = append(m.dirOps, memDirOp{dir: filepath.Dir(name), name: name, in: in, add: add, group: group})
}

func (m *memFS) newGroup() int { m.dirOpGroup++; return m.dirOpGroup }

const memPage = 4096

type memInode struct {
	data       []byte             // contents now
	synced     []byte             // contents a power loss keeps for sure (len = durable size)
	dirty      map[int64]struct{} // pages written since they were last synced
	sizeSynced bool               // len(data) == len(synced) is durable
}

func newMemFS() *memFS {
	return &memFS{files: map[string]*memInode{}, durable: map[string]*memInode{}, dirs: map[string]bool{"/": true}}
}

func (m *memFS) event(op, path string) {
	if m.hook != nil {
		m.hook(op, path)
	}
}

// crashClone returns the file system a power loss now would leave: every
// file as its syncs made it durable, and each page written since its last
// sync kept with probability keep (drawn from rng, in a fixed order, so a
// seed reproduces the result).
func (m *memFS) crashClone(rng *rand.Rand, keep float64) *memFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.crashCloneLocked(rng, keep)
}

func (m *memFS) crashCloneLocked(rng *rand.Rand, keep float64) *memFS {
	c := newMemFS()
	for d := range m.dirs {
		c.dirs[d] = true
	}
	names := make([]string, 0, len(m.durable))
	for name := range m.durable {
		names = append(names, name)
	}
	slices.Sort(names)
	clones := map[*memInode]*memInode{}
	for _, name := range names {
		n := m.cloneInode(clones, m.durable[name], rng, keep)
		c.files[name] = n
		c.durable[name] = n
	}
	if m.randomDirOps && rng != nil && keep > 0 {
		kept := map[int]bool{}
		for _, op := range m.dirOps {
			k, ok := kept[op.group]
			if !ok {
				k = rng.Float64() < keep
				kept[op.group] = k
			}
			if !k {
				continue
			}
			n := m.cloneInode(clones, op.in, rng, keep)
			switch {
			case op.add:
				c.files[op.name], c.durable[op.name] = n, n
			case c.files[op.name] == n:
				delete(c.files, op.name)
				delete(c.durable, op.name)
			}
		}
	}
	return c
}

// cloneInode returns the crash image of in (once per inode): what its
// syncs made durable, plus each page written since kept with
// probability keep.
func (m *memFS) cloneInode(clones map[*memInode]*memInode, in *memInode, rng *rand.Rand, keep float64) *memInode {
	if n, ok := clones[in]; ok {
		return n
	}
	data := slices.Clone(in.synced)
	pages := make([]int64, 0, len(in.dirty))
	for p := range in.dirty {
		pages = append(pages, p)
	}
	slices.Sort(pages)
	for _, p := range pages {
		if keep <= 0 || rng == nil || rng.Float64() >= keep {
			continue
		}
		lo, hi := p*memPage, min((p+1)*memPage, int64(len(in.data)))
		if lo >= hi {
			continue
		}
		if int64(len(data)) < hi {
			data = append(data, make([]byte, hi-int64(len(data)))...)
		}
		copy(data[lo:hi], in.data[lo:hi])
	}
	n := &memInode{data: data, synced: slices.Clone(data), dirty: map[int64]struct{}{}, sizeSynced: true}
	clones[in] = n
	return n
}

// lostWritebackClone returns the state a new process finds after the
// kernel failed to write back the pages written since the last sync (an
// fdatasync that failed): every name as it is now, the unsynced pages
// still readable from the cache but marked clean — a sync will not write
// them — and not durable.
func (m *memFS) lostWritebackClone() *memFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := newMemFS()
	for d := range m.dirs {
		c.dirs[d] = true
	}
	clones := map[*memInode]*memInode{}
	clone := func(in *memInode) *memInode {
		if n, ok := clones[in]; ok {
			return n
		}
		n := &memInode{data: slices.Clone(in.data), synced: slices.Clone(in.synced), dirty: map[int64]struct{}{}, sizeSynced: in.sizeSynced}
		clones[in] = n
		return n
	}
	for name, in := range m.files {
		c.files[name] = clone(in)
	}
	for name, in := range m.durable {
		c.durable[name] = clone(in)
	}
	return c
}

func notExist(op, path string) error { return &fs.PathError{Op: op, Path: path, Err: fs.ErrNotExist} }

func (m *memFS) OpenFile(name string, flag int, _ os.FileMode) (file, error) {
	name = filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	in, ok := m.files[name]
	switch {
	case !ok && flag&os.O_CREATE == 0:
		return nil, notExist("open", name)
	case ok && flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrExist}
	case !ok:
		if !m.dirs[filepath.Dir(name)] {
			return nil, notExist("open", name)
		}
		in = &memInode{dirty: map[int64]struct{}{}}
		m.files[name] = in
		m.logDirOp(m.newGroup(), name, in, true)
		m.event("create", name)
	case flag&os.O_TRUNC != 0:
		in.data = in.data[:0]
		in.sizeSynced = false
		m.event("truncate", name)
	}
	return &memFile{fs: m, in: in, name: name, writable: flag&(os.O_WRONLY|os.O_RDWR) != 0}, nil
}

func (m *memFS) Remove(name string) error {
	name = filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	in, ok := m.files[name]
	if !ok {
		return notExist("remove", name)
	}
	delete(m.files, name)
	m.logDirOp(m.newGroup(), name, in, false)
	m.event("remove", name)
	return nil
}

func (m *memFS) Rename(oldpath, newpath string) error {
	oldpath, newpath = filepath.Clean(oldpath), filepath.Clean(newpath)
	m.mu.Lock()
	defer m.mu.Unlock()
	in, ok := m.files[oldpath]
	if !ok {
		return notExist("rename", oldpath)
	}
	if !m.dirs[filepath.Dir(newpath)] {
		return notExist("rename", newpath)
	}
	g := m.newGroup()
	if old, ok := m.files[newpath]; ok {
		m.logDirOp(g, newpath, old, false)
	}
	delete(m.files, oldpath)
	m.files[newpath] = in
	m.logDirOp(g, oldpath, in, false)
	m.logDirOp(g, newpath, in, true)
	m.event("rename", newpath)
	return nil
}

func (m *memFS) MkdirAll(dir string, _ os.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for d := filepath.Clean(dir); !m.dirs[d]; d = filepath.Dir(d) {
		m.dirs[d] = true
	}
	return nil
}

func (m *memFS) ReadDir(dir string) ([]dirEntry, error) {
	dir = filepath.Clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.dirs[dir] {
		return nil, notExist("readdir", dir)
	}
	var out []dirEntry
	for name, in := range m.files {
		if filepath.Dir(name) == dir {
			out = append(out, dirEntry{name: filepath.Base(name), size: int64(len(in.data))})
		}
	}
	return out, nil
}

func (m *memFS) Stat(name string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	in, ok := m.files[filepath.Clean(name)]
	if !ok {
		return 0, notExist("stat", name)
	}
	return int64(len(in.data)), nil
}

func (m *memFS) SyncDir(dir string) error {
	dir = filepath.Clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	for name := range m.durable {
		if filepath.Dir(name) == dir {
			delete(m.durable, name)
		}
	}
	for name, in := range m.files {
		if filepath.Dir(name) == dir {
			m.durable[name] = in
		}
	}
	m.dirOps = slices.DeleteFunc(m.dirOps, func(op memDirOp) bool { return op.dir == dir })
	m.event("syncdir", dir)
	return nil
}

func (m *memFS) RenameOpen(f file, newpath string) (file, error) {
	mf := f.(*memFile)
	if err := m.Rename(mf.name, newpath); err != nil {
		return nil, err
	}
	mf.name = filepath.Clean(newpath)
	return mf, nil
}

func (m *memFS) Map(name string) ([]byte, func(), error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	in, ok := m.files[filepath.Clean(name)]
	if !ok {
		return nil, nil, notExist("open", name)
	}
	return slices.Clone(in.data), func() {}, nil
}

// memFile is an open memFS file.
type memFile struct {
	fs       *memFS
	in       *memInode
	name     string
	pos      int64
	writable bool
	closed   bool
}

var errMemClosed = errors.New("memfs: file closed")

func (f *memFile) Name() string { return f.name }

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return 0, errMemClosed
	}
	if off >= int64(len(f.in.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.in.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	return f.writeAtLocked(p, off)
}

func (f *memFile) writeAtLocked(p []byte, off int64) (int, error) {
	if f.closed || !f.writable {
		return 0, errMemClosed
	}
	in := f.in
	if end := off + int64(len(p)); end > int64(len(in.data)) {
		in.data = append(in.data, make([]byte, end-int64(len(in.data)))...)
		in.sizeSynced = false
	}
	copy(in.data[off:], p)
	for pg := off / memPage; pg*memPage < off+int64(len(p)); pg++ {
		in.dirty[pg] = struct{}{}
	}
	f.fs.event("write", f.name)
	return len(p), nil
}

func (f *memFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	n, err := f.writeAtLocked(p, f.pos)
	f.pos += int64(n)
	return n, err
}

// Datasync persists the dirty pages within the durable size.
func (f *memFile) Datasync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return errMemClosed
	}
	in := f.in
	for pg := range in.dirty {
		lo, hi := pg*memPage, min((pg+1)*memPage, int64(len(in.synced)), int64(len(in.data)))
		if lo >= int64(len(in.synced)) {
			continue // beyond the durable size: needs Sync
		}
		copy(in.synced[lo:hi], in.data[lo:hi])
		if hi == min((pg+1)*memPage, int64(len(in.data))) {
			delete(in.dirty, pg)
		}
	}
	f.fs.event("datasync", f.name)
	return nil
}

// Sync persists the contents and the size.
func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return errMemClosed
	}
	in := f.in
	in.synced = slices.Clone(in.data)
	clear(in.dirty)
	in.sizeSynced = true
	f.fs.event("sync", f.name)
	return nil
}

func (f *memFile) Preallocate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed || !f.writable {
		return errMemClosed
	}
	if size > int64(len(f.in.data)) {
		f.in.data = append(f.in.data, make([]byte, size-int64(len(f.in.data)))...)
		f.in.sizeSynced = false
		f.fs.event("truncate", f.name)
	}
	return nil
}

func (f *memFile) Size() (int64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	return int64(len(f.in.data)), nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return errMemClosed
	}
	f.closed = true
	return nil
}

// errorFS wraps a fileSystem and fails the operations inject picks: before
// each operation it calls inject(op, path), and a non-nil result is
// returned instead of doing the operation. Ops: open, write, datasync,
// sync, preallocate, rename, remove, syncdir.
type errorFS struct {
	fileSystem
	inject func(op, path string) error
}

func (e *errorFS) OpenFile(name string, flag int, perm os.FileMode) (file, error) {
	if err := e.inject("open", name); err != nil {
		return nil, err
	}
	f, err := e.fileSystem.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &errorFile{file: f, fs: e}, nil
}

func (e *errorFS) Rename(oldpath, newpath string) error {
	if err := e.inject("rename", newpath); err != nil {
		return err
	}
	return e.fileSystem.Rename(oldpath, newpath)
}

func (e *errorFS) Remove(name string) error {
	if err := e.inject("remove", name); err != nil {
		return err
	}
	return e.fileSystem.Remove(name)
}

func (e *errorFS) SyncDir(dir string) error {
	if err := e.inject("syncdir", dir); err != nil {
		return err
	}
	return e.fileSystem.SyncDir(dir)
}

func (e *errorFS) RenameOpen(f file, newpath string) (file, error) {
	if err := e.inject("rename", newpath); err != nil {
		return nil, err
	}
	nf, err := e.fileSystem.RenameOpen(f.(*errorFile).file, newpath)
	if err != nil {
		return nil, err
	}
	return &errorFile{file: nf, fs: e}, nil
}

type errorFile struct {
	file
	fs *errorFS
}

func (f *errorFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.fs.inject("write", f.Name()); err != nil {
		return 0, err
	}
	return f.file.WriteAt(p, off)
}

func (f *errorFile) Write(p []byte) (int, error) {
	if err := f.fs.inject("write", f.Name()); err != nil {
		return 0, err
	}
	return f.file.Write(p)
}

func (f *errorFile) Datasync() error {
	if err := f.fs.inject("datasync", f.Name()); err != nil {
		return err
	}
	return f.file.Datasync()
}

func (f *errorFile) Sync() error {
	if err := f.fs.inject("sync", f.Name()); err != nil {
		return err
	}
	return f.file.Sync()
}

func (f *errorFile) Preallocate(size int64) error {
	if err := f.fs.inject("preallocate", f.Name()); err != nil {
		return err
	}
	return f.file.Preallocate(size)
}

// failOps returns an inject function that fails op on files whose base name
// matches seg (any file when seg is ""), while armed is set.
func failOps(armed *atomic.Bool, ops ...string) func(op, path string) error {
	return func(op, path string) error {
		if armed.Load() && slices.Contains(ops, op) && filepath.Ext(path) == segmentExt {
			return errInjected
		}
		return nil
	}
}

// TestMemFSCrash checks the model itself: synced data and synced directory
// entries survive a crash, unsynced ones do not (keep=0) or only partly.
func TestMemFSCrash(t *testing.T) {
	m := newMemFS()
	m.MkdirAll("/d", 0)
	f, _ := m.OpenFile("/d/a", os.O_RDWR|os.O_CREATE, 0)
	f.WriteAt(make([]byte, 3*memPage), 0)
	f.Sync()
	m.SyncDir("/d")
	f.WriteAt([]byte("synced"), 0)
	f.Datasync()
	f.WriteAt([]byte("lost"), memPage)
	g, _ := m.OpenFile("/d/b", os.O_RDWR|os.O_CREATE, 0) // never in a synced dir
	g.Write([]byte("x"))
	g.Sync()
	m.Rename("/d/a", "/d/c") // not synced

	c := m.crashClone(nil, 0)
	data, _, err := c.Map("/d/a")
	if err != nil || string(data[:6]) != "synced" || data[memPage] != 0 || len(data) != 3*memPage {
		t.Fatalf("after crash: %q... (%d bytes), %v", data[:6], len(data), err)
	}
	if _, err := c.Stat("/d/b"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("unsynced creation survived: %v", err)
	}
	if _, err := c.Stat("/d/c"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("unsynced rename survived: %v", err)
	}
	// keep=1 keeps every unsynced page of a durable name.
	c = m.crashClone(rand.New(rand.NewPCG(1, 2)), 1)
	if data, _, _ := c.Map("/d/a"); string(data[memPage:memPage+4]) != "lost" {
		t.Fatal("keep=1 dropped an unsynced page")
	}
	// A write that extends a file needs Sync for the new size.
	h, _ := m.OpenFile("/d/c", os.O_RDWR, 0)
	h.WriteAt([]byte("tail"), 3*memPage)
	h.Datasync()
	m.SyncDir("/d")
	if data, _, _ := m.crashClone(nil, 0).Map("/d/c"); len(data) != 3*memPage {
		t.Fatalf("size change durable without Sync: %d", len(data))
	}
}

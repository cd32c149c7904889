package capability

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// FSReadConfig configures the fs.read capability. The zero value has no
// root, so every call is refused.
type FSReadConfig struct {
	// Root is the absolute path of the directory every read is confined
	// to (with os.Root: "..", absolute paths outside it and symbolic
	// links leading out of it are refused). If empty, every call is
	// refused.
	Root string
	// MaxBytes caps the bytes returned; a larger file is cut and the
	// result says "truncated": true. If zero, defaults to 1 MiB.
	MaxBytes int64
	// MaxReaders bounds the reads in progress in the kernel, counting
	// those whose call has already ended at its deadline while the file
	// system still holds the read (a stalled FUSE or NFS file). Past it,
	// calls are refused at once with an EnvironmentError until some of
	// them return. If zero, defaults to 64.
	MaxReaders int
}

// Defaults of FSReadConfig.
const (
	DefaultMaxReadBytes = 1 << 20 // FSReadConfig.MaxBytes
	DefaultMaxReaders   = 64      // FSReadConfig.MaxReaders
)

// FSRead is the "fs.read" capability. Safe for concurrent use.
type FSRead struct {
	root    string
	max     int64
	readers chan struct{} // one token per read in progress (bounded.go)

	testStall chan struct{} // tests: if set, every read blocks on it first
}

// NewFSRead builds the fs.read capability. The error (CONFIGURATION_ERROR)
// reports a root that is not an absolute path to a directory.
func NewFSRead(cfg FSReadConfig) (*FSRead, error) {
	f := &FSRead{root: cfg.Root, max: cfg.MaxBytes}
	if cfg.MaxReaders < 0 {
		return nil, cfgErr("fs.read: max readers is negative")
	}
	if cfg.MaxReaders == 0 {
		cfg.MaxReaders = DefaultMaxReaders
	}
	f.readers = make(chan struct{}, cfg.MaxReaders)
	if f.max == 0 {
		f.max = DefaultMaxReadBytes
	}
	if f.max < 0 {
		return nil, cfgErr("fs.read: max bytes is negative")
	}
	if f.root != "" {
		if !filepath.IsAbs(f.root) {
			return nil, cfgErr("fs.read: root " + strconv.Quote(f.root) + " is not absolute")
		}
		f.root = filepath.Clean(f.root)
		if st, err := os.Stat(f.root); err != nil || !st.IsDir() {
			return nil, cfgErr("fs.read: root " + strconv.Quote(f.root) + " is not a directory")
		}
	}
	return f, nil
}

func (*FSRead) Name() string    { return "fs.read" }
func (*FSRead) Version() string { return "1.0.0" }
func (*FSRead) Description() string {
	return "Reads a regular file inside the configured root, up to a size cap."
}
func (*FSRead) Schema() []byte {
	return []byte(`{"type":"object","properties":{"path":{"type":"string","minLength":1,"maxLength":4096}},"required":["path"],"additionalProperties":false}`)
}
func (*FSRead) Effects() Effects { return EffectsRead }

// Canonicalize implements Canonicalizer. The canonical form is
// {"path": the absolute path of the file inside the root, cleaned, with
// every symbolic link resolved (as far as the path exists)}:
// "/project/./secrets/db.txt", "secrets//db.txt", "public/../secrets/db.txt"
// and a link to it all canonicalize to "/project/secrets/db.txt" under root
// /project, and "server.key/." to ".../server.key". It fails for what
// Execute refuses: no root, a path that escapes it.
func (f *FSRead) Canonicalize(args protocol.Value) (Canonical, error) {
	p := args.Get("path").Str()
	rel, e := f.relPath(p)
	if e != nil {
		return Canonical{}, e
	}
	root, err := os.OpenRoot(f.root)
	if err != nil {
		return Canonical{}, newErr(ErrEnvironment, "fs.read: cannot open the root: "+errText(err))
	}
	defer root.Close()
	resolved, e := resolveInRoot(root, p, rel)
	if e != nil {
		return Canonical{}, e
	}
	return Canonical{Args: f.canonicalArgs(resolved)}, nil
}

// canonicalArgs returns {"path": root/resolved}.
func (f *FSRead) canonicalArgs(resolved string) []byte {
	abs := f.root
	if resolved != "" {
		if f.root == "/" {
			abs = "/" + resolved
		} else {
			abs = f.root + "/" + resolved
		}
	}
	return append(protocol.AppendString(append(make([]byte, 0, len(abs)+12), `{"path":`...), abs), '}')
}

// relPath returns p relative to the root ("" for the root itself), or the
// refusal of a path outside it.
func (f *FSRead) relPath(p string) (string, *Error) {
	if f.root == "" {
		return "", newErr(ErrEnvironment, "fs.read: no root is configured")
	}
	if p == "" || strings.IndexByte(p, 0) >= 0 {
		return "", newErr(ErrArgument, "fs.read: path must be a non-empty string without NUL")
	}
	rel := p
	if filepath.IsAbs(p) {
		c := filepath.Clean(p)
		switch {
		case c == f.root:
			rel = "."
		case f.root == "/":
			rel = c[1:]
		case strings.HasPrefix(c, f.root+"/"):
			rel = c[len(f.root)+1:]
		default:
			return "", newErr(ErrAuthorization, "fs.read: path "+quoteShort(p)+" is outside the root")
		}
	}
	if !filepath.IsLocal(rel) && rel != "." {
		return "", newErr(ErrAuthorization, "fs.read: path "+quoteShort(p)+" escapes the root")
	}
	return rel, nil
}

// maxSymlinks bounds the symbolic links one resolution follows (as
// Linux's MAXSYMLINKS).
const maxSymlinks = 40

// resolveInRoot resolves rel inside root the way the kernel would, one
// component at a time: "." is dropped, ".." goes up one resolved
// component (never above the root), and each symbolic link is replaced by
// its target (a relative one; an absolute target escapes, as os.Root has
// it). A component that cannot be examined (it does not exist, or is not
// a directory) is kept as written and resolution goes on, so the rest is
// still cleaned. The result is slash-separated, relative to the root, and
// names no symbolic link that existed when it was examined ("" is the
// root itself). p is the path as given, for messages.
func resolveInRoot(root *os.Root, p, rel string) (string, *Error) {
	todo := splitComponents(nil, rel)
	done := make([]string, 0, len(todo))
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(done) == 0 {
				return "", newErr(ErrAuthorization, "fs.read: path "+quoteShort(p)+" escapes the root")
			}
			done = done[:len(done)-1]
			continue
		}
		cand := strings.Join(append(done, c), "/")
		fi, err := root.Lstat(cand)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			done = append(done, c)
			continue
		}
		if links++; links > maxSymlinks {
			return "", newErr(ErrAuthorization, "fs.read: "+quoteShort(p)+": too many symbolic links")
		}
		target, err := root.Readlink(cand)
		if err != nil {
			return "", fsErr(p, err)
		}
		if target == "" || filepath.IsAbs(target) || filepath.VolumeName(target) != "" {
			return "", newErr(ErrAuthorization, "fs.read: "+quoteShort(p)+" escapes the root")
		}
		todo = splitComponents(todo, target)
	}
	return strings.Join(done, "/"), nil
}

// splitComponents returns the components of path s followed by rest.
func splitComponents(rest []string, s string) []string {
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == '/' || os.IsPathSeparator(uint8(r)) && r < 0x80 })
	return append(parts, rest...)
}

// Execute reads args.path, relative to the root (an absolute path is
// accepted when it lies inside the root). The result is
// {"path":…,"size":N,"content":…,"encoding":"utf-8"|"base64","truncated":bool}.
//
// The path is resolved again here (Canonicalize's form may be older than
// a change to a symbolic link); when the result differs from
// req.Canonical, it is authorized with req.Authorize first. The file is
// then opened at exactly that resolved path, without following any
// symbolic link (see openResolved), so the file read is the file the
// policy decided on.
func (f *FSRead) Execute(ctx context.Context, req *Request) ([]byte, error) {
	p := req.Args.Get("path").Str()
	rel, e := f.relPath(p)
	if e != nil {
		return nil, e
	}
	if err := ctx.Err(); err != nil {
		return nil, ctxErr(err)
	}
	return f.readBounded(ctx, req, rel, p)
}

// readFile opens rel inside the root and reads it: only a regular file,
// at most f.max bytes. It may block for as long as the file system does;
// readBounded runs it so that the call does not.
func (f *FSRead) readFile(req *Request, rel, p string) ([]byte, *Error) {
	root, err := os.OpenRoot(f.root)
	if err != nil {
		return nil, newErr(ErrEnvironment, "fs.read: cannot open the root: "+errText(err))
	}
	defer root.Close()
	resolved, e := resolveInRoot(root, p, rel)
	if e != nil {
		return nil, e
	}
	if canon := f.canonicalArgs(resolved); !req.sameCanonical(canon) {
		if err := req.authorize(Canonical{Args: canon}); err != nil {
			var ce *Error
			if errors.As(err, &ce) {
				return nil, ce
			}
			return nil, newErr(ErrAuthorization, "fs.read: "+err.Error())
		}
	}
	// O_NONBLOCK: opening a FIFO must not hang; the file type is checked
	// before anything is read.
	file, err := openResolved(root, f.root, resolved)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, newErr(ErrAuthorization, "fs.read: "+quoteShort(p)+": a symbolic link appeared on the resolved path")
		}
		return nil, fsErr(p, err)
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		return nil, fsErr(p, err)
	}
	if !st.Mode().IsRegular() {
		return nil, newErr(ErrArgument, "fs.read: "+quoteShort(p)+" is not a regular file ("+st.Mode().Type().String()+")")
	}
	if f.testStall != nil {
		<-f.testStall // a read stuck in the kernel
	}
	data, truncated, err := readCapped(file, st.Size(), f.max)
	if err != nil {
		return nil, fsErr(p, err)
	}
	b := make([]byte, 0, len(data)*4/3+len(p)+128)
	b = append(b, `{"path":`...)
	b = protocol.AppendString(b, p)
	b = append(b, `,"size":`...)
	b = strconv.AppendInt(b, st.Size(), 10)
	b = appendContent(b, "content", data, truncated)
	b = append(b, `,"truncated":`...)
	b = strconv.AppendBool(b, truncated)
	return append(b, '}'), nil
}

// readCapped reads at most max bytes from r; truncated reports that more
// were there. size is a hint for the first allocation.
func readCapped(r io.Reader, size, max int64) ([]byte, bool, error) {
	hint := min(max, size) + 1
	if hint < 512 {
		hint = 512
	}
	lr := io.LimitReader(r, max+1)
	buf := make([]byte, 0, hint)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, false, err
		}
	}
	if int64(len(buf)) > max {
		return buf[:max], true, nil
	}
	return buf, false, nil
}

// appendContent appends ,"<key>":…,"encoding":… : text when data is valid
// UTF-8 (after dropping a rune cut by truncation), base64 otherwise.
func appendContent(b []byte, key string, data []byte, truncated bool) []byte {
	if truncated {
		if t := trimPartialRune(data); utf8.Valid(t) {
			data = t
		}
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	if utf8.Valid(data) {
		b = protocol.AppendString(b, string(data))
		return append(b, `,"encoding":"utf-8"`...)
	}
	b = append(b, '"')
	b = base64.StdEncoding.AppendEncode(b, data)
	return append(b, `","encoding":"base64"`...)
}

func fsErr(p string, err error) *Error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return newErr(ErrExecution, "fs.read: "+quoteShort(p)+": no such file")
	case errors.Is(err, fs.ErrPermission):
		return newErr(ErrExecution, "fs.read: "+quoteShort(p)+": permission denied")
	case strings.Contains(err.Error(), "escapes from parent"):
		// os.Root's refusal of a path or symbolic link leading out of the root.
		return newErr(ErrAuthorization, "fs.read: "+quoteShort(p)+" escapes the root")
	case errors.Is(err, syscall.ELOOP):
		return newErr(ErrAuthorization, "fs.read: "+quoteShort(p)+": too many symbolic links")
	}
	return newErr(ErrExecution, "fs.read: "+quoteShort(p)+": "+errText(err))
}

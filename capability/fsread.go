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

// Execute reads args.path, relative to the root (an absolute path is
// accepted when it lies inside the root). The result is
// {"path":…,"size":N,"content":…,"encoding":"utf-8"|"base64","truncated":bool}.
func (f *FSRead) Execute(ctx context.Context, req *Request) ([]byte, error) {
	if f.root == "" {
		return nil, newErr(ErrEnvironment, "fs.read: no root is configured")
	}
	p := req.Args.Get("path").Str()
	if p == "" || strings.IndexByte(p, 0) >= 0 {
		return nil, newErr(ErrArgument, "fs.read: path must be a non-empty string without NUL")
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
			return nil, newErr(ErrAuthorization, "fs.read: path "+quoteShort(p)+" is outside the root")
		}
	}
	if !filepath.IsLocal(rel) && rel != "." {
		return nil, newErr(ErrAuthorization, "fs.read: path "+quoteShort(p)+" escapes the root")
	}
	if err := ctx.Err(); err != nil {
		return nil, ctxErr(err)
	}
	return f.readBounded(ctx, rel, p)
}

// readFile opens rel inside the root and reads it: only a regular file,
// at most f.max bytes. It may block for as long as the file system does;
// readBounded runs it so that the call does not.
func (f *FSRead) readFile(rel, p string) ([]byte, *Error) {
	root, err := os.OpenRoot(f.root)
	if err != nil {
		return nil, newErr(ErrEnvironment, "fs.read: cannot open the root: "+errText(err))
	}
	defer root.Close()
	// O_NONBLOCK: opening a FIFO must not hang; the file type is checked
	// before anything is read.
	file, err := root.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
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

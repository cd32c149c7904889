package capability

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// fsFixture builds:
//
//	outside/secret.txt
//	root/hello.txt, root/sub/inner.txt, root/bin.dat (not UTF-8), root/big.txt
//	root/link-in -> sub/inner.txt      (inside: allowed)
//	root/link-out -> ../outside/secret.txt
//	root/link-abs -> /etc/passwd
//	root/dir-out -> ../outside          (directory link)
//	root/fifo                            (named pipe)
func fsFixture(t *testing.T) (root, outside string) {
	t.Helper()
	base := t.TempDir()
	root, outside = filepath.Join(base, "root"), filepath.Join(base, "outside")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "sub"), 0o755))
	must(os.MkdirAll(outside, 0o755))
	must(os.WriteFile(filepath.Join(outside, "secret.txt"), []byte("TOP SECRET"), 0o644))
	must(os.WriteFile(filepath.Join(root, "hello.txt"), []byte("hello, \"world\"\n"), 0o644))
	must(os.WriteFile(filepath.Join(root, "sub", "inner.txt"), []byte("inner"), 0o644))
	must(os.WriteFile(filepath.Join(root, "bin.dat"), []byte{0xff, 0xfe, 0x00, 'a'}, 0o644))
	must(os.WriteFile(filepath.Join(root, "big.txt"), []byte(strings.Repeat("x", 99)+"é"+strings.Repeat("y", 100)), 0o644))
	must(os.Symlink("sub/inner.txt", filepath.Join(root, "link-in")))
	must(os.Symlink("../outside/secret.txt", filepath.Join(root, "link-out")))
	must(os.Symlink("/etc/passwd", filepath.Join(root, "link-abs")))
	must(os.Symlink("../outside", filepath.Join(root, "dir-out")))
	must(mkfifo(filepath.Join(root, "fifo")))
	return root, outside
}

func readFS(t *testing.T, f *FSRead, path string) (protocol.Value, error) {
	t.Helper()
	args := string(protocol.AppendString([]byte(`{"path":`), path)) + "}"
	res, err := f.Execute(context.Background(), &Request{Args: mustValue(t, args)})
	if err != nil {
		if res != nil {
			t.Errorf("%s: result %s with error", path, res)
		}
		return protocol.Value{}, err
	}
	v, perr := protocol.ParseValue(res, protocol.Limits{})
	if perr != nil {
		t.Fatalf("%s: result %s is not valid JSON: %v", path, res, perr)
	}
	return v, nil
}

func TestFSReadInsideRoot(t *testing.T) {
	root, _ := fsFixture(t)
	f, err := NewFSRead(FSReadConfig{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"hello.txt":                           "hello, \"world\"\n",
		"sub/inner.txt":                       "inner",
		"./sub/../hello.txt":                  "hello, \"world\"\n",
		"link-in":                             "inner",
		filepath.Join(root, "sub/inner.txt"):  "inner",
		filepath.Join(root, "sub/../link-in"): "inner",
	} {
		v, err := readFS(t, f, path)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if v.Get("content").Str() != want || v.Get("encoding").Str() != "utf-8" || v.Get("truncated").Bool() || v.Get("path").Str() != path {
			t.Errorf("%s: %s", path, v.Raw())
		}
		if n, _ := v.Get("size").Int(); n != int64(len(want)) {
			t.Errorf("%s: size %d", path, n)
		}
	}
	v, err := readFS(t, f, "bin.dat")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := base64.StdEncoding.DecodeString(v.Get("content").Str()); v.Get("encoding").Str() != "base64" || string(got) != "\xff\xfe\x00a" {
		t.Errorf("bin.dat: %s", v.Raw())
	}
}

func TestFSReadConfinement(t *testing.T) {
	root, outside := fsFixture(t)
	f, err := NewFSRead(FSReadConfig{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{
		"../outside/secret.txt",
		"sub/../../outside/secret.txt",
		"..",
		filepath.Join(outside, "secret.txt"),
		filepath.Join(root, "../outside/secret.txt"),
		"/etc/passwd",
		"link-out",
		"link-abs",
		"dir-out/secret.txt",
	} {
		_, err := readFS(t, f, path)
		if !errors.Is(err, &Error{Type: ErrAuthorization}) {
			t.Errorf("%s: err = %v, want an AuthorizationError", path, err)
			continue
		}
		if strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "root:") {
			t.Errorf("%s: error leaks content: %v", path, err)
		}
	}
	for path, want := range map[string]ErrorType{
		"missing.txt": ErrExecution,
		"sub":         ErrArgument,
		".":           ErrArgument,
		"fifo":        ErrArgument,
		"a\x00b":      ErrArgument,
	} {
		if _, err := readFS(t, f, path); !errors.Is(err, &Error{Type: want}) {
			t.Errorf("%q: err = %v, want %s", path, err, want)
		}
	}
}

func TestFSReadSizeCap(t *testing.T) {
	root, _ := fsFixture(t)
	f, err := NewFSRead(FSReadConfig{Root: root, MaxBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	v, err := readFS(t, f, "big.txt")
	if err != nil {
		t.Fatal(err)
	}
	// The cap falls inside "é": the partial rune is dropped, text stays text.
	if c := v.Get("content").Str(); c != strings.Repeat("x", 99) || !v.Get("truncated").Bool() || v.Get("encoding").Str() != "utf-8" {
		t.Errorf("big.txt: %s", v.Raw())
	}
	if n, _ := v.Get("size").Int(); n != 201 {
		t.Errorf("size %d", n)
	}
	exact, _ := NewFSRead(FSReadConfig{Root: root, MaxBytes: 5})
	if v, err := readFS(t, exact, "sub/inner.txt"); err != nil || v.Get("truncated").Bool() || v.Get("content").Str() != "inner" {
		t.Errorf("exact size: %v %s", err, v.Raw())
	}
}

func TestFSReadConfig(t *testing.T) {
	for _, cfg := range []FSReadConfig{{Root: "relative"}, {Root: "/nonexistent/x"}, {Root: "/etc/passwd"}, {MaxBytes: -1}} {
		if _, err := NewFSRead(cfg); err == nil || !errors.Is(err, protocol.ErrConfiguration) {
			t.Errorf("%+v: err = %v", cfg, err)
		}
	}
	unconfigured, err := NewFSRead(FSReadConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readFS(t, unconfigured, "x"); !errors.Is(err, &Error{Type: ErrEnvironment}) {
		t.Errorf("no root: %v", err)
	}
	// Root "/" itself: absolute paths map to relative ones.
	slash, err := NewFSRead(FSReadConfig{Root: "/", MaxBytes: 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readFS(t, slash, "/etc/hostname"); err != nil && !errors.Is(err, &Error{Type: ErrExecution}) {
		t.Errorf("root /: %v", err)
	}
}

package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/femtoclaw/femtoclaw-go/capability"
)

// Capabilities cannot reach the runtime: a configuration that would let
// one read the runtime's own files is refused at load. The data directory
// holds the bearer token, the TLS private key, the redaction key and the
// journal; the token, key and certificate files may also be configured
// elsewhere. A capability root (fs.read's root, a path the shell's
// Landlock ruleset opens) must neither contain one of them, nor equal the
// data directory, nor lie inside it. Paths are compared after making them
// absolute and resolving every symbolic link of their longest existing
// prefix, so another spelling ("dir/../data", a link to a parent) finds
// the same file; components are compared whole, so /srv/data2 is not
// inside /srv/data.
//
// Not covered: hard links to a runtime file placed inside a root, and
// bind mounts: keep capability roots on trees the runtime's files are not
// linked into.

// runtimeFile is one of the runtime's own files or directories.
type runtimeFile struct {
	what, path string
	dir        bool // a directory: a root inside it is refused too
}

// runtimeFiles lists what no capability may reach.
func (c *Config) runtimeFiles() []runtimeFile {
	files := []runtimeFile{{"data_dir", c.DataDir, true}}
	if c.Auth.TokenFile != "" {
		files = append(files, runtimeFile{"auth.token_file", c.path(c.Auth.TokenFile), false})
	}
	if c.Redaction.KeyFile != "" {
		files = append(files, runtimeFile{"redaction.key_file", c.path(c.Redaction.KeyFile), false})
	}
	if c.TLS.KeyFile != "" {
		files = append(files, runtimeFile{"tls.key_file", c.path(c.TLS.KeyFile), false})
	}
	return files
}

// capabilityRoots lists every path a capability can read below, by key.
func (c *Config) capabilityRoots() [][2]string {
	var roots [][2]string
	if r := c.Capabilities.FSRead.Root; r != "" {
		roots = append(roots, [2]string{"capabilities.fs.read.root", r})
	}
	if ll := c.Capabilities.Shell.Landlock; !ll.Disabled {
		read := ll.Read
		if len(read) == 0 {
			read = capability.DefaultLandlockRead
		}
		for _, p := range read {
			roots = append(roots, [2]string{"capabilities.shell.landlock.read", p})
		}
		for _, p := range ll.Write {
			roots = append(roots, [2]string{"capabilities.shell.landlock.write", p})
		}
	}
	return roots
}

// confinementProblems refuses a capability root that reaches a runtime
// file, naming both paths.
func (c *Config) confinementProblems() []problem {
	if c.DataDir == "" {
		return nil
	}
	files := c.runtimeFiles()
	var ps []problem
	for _, r := range c.capabilityRoots() {
		root := resolvePath(r[1])
		for _, f := range files {
			p := resolvePath(f.path)
			switch {
			case within(p, root):
				ps = append(ps, bad(r[0], "%q (%s) contains %s %q (%s): a capability could read the runtime's own files; choose a root that does not contain it", r[1], root, f.what, f.path, p))
			case f.dir && within(root, p):
				ps = append(ps, bad(r[0], "%q (%s) is inside %s %q (%s): a capability could read the runtime's own files; choose a root outside it", r[1], root, f.what, f.path, p))
			}
		}
	}
	return ps
}

// within reports whether p is dir or below it, comparing whole
// components. Both are clean absolute paths.
func within(p, dir string) bool {
	if p == dir || dir == string(filepath.Separator) {
		return true
	}
	return strings.HasPrefix(p, dir+string(filepath.Separator))
}

// resolvePath makes p absolute and resolves the symbolic links of its
// longest existing prefix; the rest (not created yet) is appended as
// written, cleaned.
func resolvePath(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	rest := ""
	for cur := abs; ; {
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return abs
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

// logShellConfinement says at start how shell processes are confined,
// and warns when the kernel lacks Landlock. Silent when shell is
// disabled.
func logShellConfinement(log *slog.Logger, reg *capability.Registry) {
	e, ok := reg.Lookup("shell")
	if !ok || !e.Settings.Enabled {
		return
	}
	sh, ok := e.Cap.(*capability.Shell)
	if !ok {
		return
	}
	desc, warn := sh.Confinement()
	if warn {
		log.Warn("shell confinement incomplete", "confinement", desc)
		return
	}
	log.Info("shell confinement", "confinement", desc)
}

// redactionKey reads the redaction key file, creating it (32 random
// bytes, hex, mode 0600) when create is set and it does not exist. No
// file configured, or none and create unset: nil (a random key per run).
func redactionKey(c *Config, create bool) ([]byte, error) {
	if c.Redaction.KeyFile == "" {
		return nil, nil
	}
	path := c.path(c.Redaction.KeyFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if !create {
			return nil, nil
		}
		var b [32]byte
		_, _ = rand.Read(b[:])
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("redaction key: %w", err)
		}
		_, werr := f.WriteString(hex.EncodeToString(b[:]) + "\n")
		if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
			return nil, fmt.Errorf("redaction key: %w", err)
		}
		return b[:], nil
	}
	if err != nil {
		return nil, fmt.Errorf("redaction key: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("redaction key file %s is readable by others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(key) < 16 {
		return nil, fmt.Errorf("redaction key file %s: want at least 32 hex digits", path)
	}
	return key, nil
}

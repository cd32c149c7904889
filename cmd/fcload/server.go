package main

import (
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/femtoclaw/femtoclaw-go/internal/runfile"
	"github.com/femtoclaw/femtoclaw-go/transport"
)

// defaultDataDir is serve's default data directory (data_dir).
const defaultDataDir = "femtoclaw-data"

// serverDir is the data directory of the server to drive: -data-dir, or
// serve's default.
func serverDir(o options) string {
	if o.dataDir != "" {
		return o.dataDir
	}
	return defaultDataDir
}

// resolveRemote completes the options of an HTTP/3 run from the server's
// data directory: -target h3 becomes the URL its run.json names; without
// -pin or -ca the pin is run.json's (else that of DATA_DIR/tls/cert.pem,
// the certificate serve generates); without -token or -token-file the
// token is DATA_DIR/token's, when there is one.
func resolveRemote(o *options) error {
	dir := serverDir(*o)
	info, rerr := runfile.Read(dir)
	if o.target == "h3" {
		if rerr != nil {
			return fmt.Errorf("-target h3: %w (start `femtoclaw serve`, point -data-dir at its data directory, or give -target URL)", rerr)
		}
		if o.target = info.URL(); o.target == "" {
			return fmt.Errorf("-target h3: the server on %s (pid %d) has no HTTP/3 listener", dir, info.PID)
		}
	}
	if o.pin == "" && o.caFile == "" {
		if rerr == nil && info.SPKIPin != "" {
			o.pin = info.SPKIPin
		} else if b, err := os.ReadFile(filepath.Join(dir, "tls", "cert.pem")); err == nil {
			if blk, _ := pem.Decode(b); blk != nil {
				o.pin, _ = transport.SPKIPin(blk.Bytes)
			}
		}
	}
	if o.token == "" && o.tokenFile == "" {
		b, err := os.ReadFile(filepath.Join(dir, "token"))
		switch {
		case err == nil:
			o.token = strings.TrimSpace(string(b))
		case !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("token: %w", err)
		}
	}
	return nil
}

// ringSocket is the ring socket to drive: -socket; else the one the
// server's run.json names; else, with no server described, the default
// DATA_DIR/femtoclaw.sock.
func ringSocket(o options) (string, error) {
	if o.socket != "" {
		return o.socket, nil
	}
	dir := serverDir(o)
	info, err := runfile.Read(dir)
	switch {
	case err == nil && info.Socket != "":
		return info.Socket, nil
	case err == nil:
		return "", fmt.Errorf("-target ipc: the server on %s (pid %d) has no ring socket", dir, info.PID)
	case errors.Is(err, runfile.ErrNoServer):
		return filepath.Join(dir, "femtoclaw.sock"), nil
	}
	return "", fmt.Errorf("-target ipc: %w", err)
}

// probeFor describes, for watching, the server the data directory's
// run.json names when it is the one the target reaches (same reaches
// decides): its pid, version and admin listener (-admin and
// -admin-token-file override). Any other server is driven unwatched: its
// resources are unknown, and so are its stages unless -admin names its
// admin listener.
func probeFor(o options, address string, same func(*runfile.Info) bool) *serverProbe {
	p := &serverProbe{address: address, adminAddr: o.adminAddr}
	dir := serverDir(o)
	info, err := runfile.Read(dir)
	switch {
	case err != nil:
		p.note = fmt.Sprintf("no live server described in %s (%v): give -data-dir", dir, err)
	case !same(info):
		p.note = fmt.Sprintf("the target is not the server %s describes (pid %d)", runfile.Path(dir), info.PID)
	default:
		p.pid, p.version, p.dataDir = info.PID, info.Version, info.DataDir
		if p.adminAddr == "" && info.Admin != "" {
			p.adminAddr = runfile.ClientAddr(info.Admin)
		}
	}
	if p.adminAddr == "" {
		p.stagesNote = "no admin listener known (the server has none, or give -admin ADDR)"
	}
	if o.adminTokenFile != "" {
		tok, err := readSecret(o.adminTokenFile)
		if err != nil {
			p.stagesNote = "-admin-token-file: " + err.Error()
			p.adminAddr = ""
		}
		p.adminToken = tok
	}
	return p
}

// sameHTTP3 reports whether the base URL reaches one of info's HTTP/3
// listeners.
func sameHTTP3(baseURL string) func(*runfile.Info) bool {
	return func(info *runfile.Info) bool {
		u, err := url.Parse(baseURL)
		if err != nil {
			return false
		}
		host, port := u.Hostname(), u.Port()
		for _, b := range info.HTTP3 {
			if runfile.ClientAddr(b) == u.Host {
				return true
			}
			bh, bp, err := net.SplitHostPort(b)
			if err != nil || bp != port {
				continue
			}
			bip, tip := net.ParseIP(bh), net.ParseIP(host)
			if bip != nil && bip.IsUnspecified() || bh == host ||
				bip != nil && bip.IsLoopback() && (host == "localhost" || tip != nil && tip.IsLoopback()) {
				return true
			}
		}
		return false
	}
}

// sameSocket reports whether path is info's ring socket.
func sameSocket(path string) func(*runfile.Info) bool {
	return func(info *runfile.Info) bool {
		a, err1 := filepath.Abs(path)
		b, err2 := filepath.Abs(info.Socket)
		return err1 == nil && err2 == nil && info.Socket != "" && a == b
	}
}

// readToken returns the token from -token or -token-file.
func readToken(o options) (string, error) {
	if o.token != "" || o.tokenFile == "" {
		return o.token, nil
	}
	return readSecret(o.tokenFile)
}

package main

import (
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
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

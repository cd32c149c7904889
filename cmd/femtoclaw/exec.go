package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/femtoclaw/femtoclaw-go/internal/runfile"
	"github.com/femtoclaw/femtoclaw-go/ipc"
	"github.com/femtoclaw/femtoclaw-go/journal"
	"github.com/femtoclaw/femtoclaw-go/pipeline"
	"github.com/femtoclaw/femtoclaw-go/protocol"
	"github.com/femtoclaw/femtoclaw-go/transport"
)

func cmdExec(ctx context.Context, inv *invocation, args []string) error {
	stdin, stdout, stderr := inv.stdin, inv.stdout, inv.stderr
	var c commonFlags
	fs := inv.flags(&c)
	c.withDataDir(fs)
	principal := fs.String("principal", "local", "in process: the principal `P` of the execution (the operator's identity; a server takes it from authentication)")
	withJournal := fs.Bool("journal", false, "in process: journal the execution into the data directory (refused while another writer, such as a server, holds it)")
	compact := fs.Bool("compact", false, "print the answer on one line")
	timeout := fs.Duration("timeout", 0, "in process: the capability deadline to ask for (clamped to the capability's maximum)")
	var server optionalPath
	fs.Var(&server, "server", "send the message over HTTP/3 to a running server: --server (the one DATA_DIR/run.json describes), --server URL or --server=URL")
	token := fs.String("token", "", "--server: the bearer `TOKEN` (default: read from auth.token_file in the data directory)")
	pin := fs.String("pin", "", "--server: the SPKI `PIN` of the server certificate (default: run.json's, else computed from DATA_DIR/tls/cert.pem)")
	caFile := fs.String("ca", "", "--server: verify the server certificate with the CA bundle `FILE` instead of a pin")
	idem := fs.String("idempotency-key", "", "idempotency `KEY`: a retry with the same key and call replays the first answer (--server: the Idempotency-Key header; --ipc: a keyed ring frame; in process it needs --journal to outlive this process)")
	var ipcPath optionalPath
	fs.Var(&ipcPath, "ipc", "send the message over the shared-memory ring of a running server: --ipc (run.json's socket, else ipc.socket in DATA_DIR), --ipc=PATH or --ipc PATH MESSAGE")
	pos, err := inv.parse(fs, args)
	if err != nil {
		return err
	}
	if err := execFlagsApply(fs, server.set, ipcPath.set); err != nil {
		return err
	}
	if server.set && server.path == "" {
		// --server URL: the URL is among the positional arguments (a
		// message is a JSON object, never a URL).
		if i := slices.IndexFunc(pos, looksLikeURL); i >= 0 {
			server.path = pos[i]
			pos = slices.Delete(pos, i, i+1)
		}
	}
	if ipcPath.set && ipcPath.path == "" && len(pos) == 2 {
		ipcPath.path, pos = pos[0], pos[1:] // --ipc PATH MESSAGE
	}
	var msg []byte
	switch {
	case len(pos) == 0 || pos[0] == "-":
		b, err := io.ReadAll(io.LimitReader(stdin, 64<<20))
		if err != nil {
			return err
		}
		msg = []byte(strings.TrimRight(string(b), "\r\n"))
	case len(pos) == 1:
		msg = []byte(pos[0])
	default:
		return usagef("one message expected, got %d arguments (quote the JSON)", len(pos))
	}
	cfg, err := c.load(inv.environ)
	if err != nil {
		return err
	}
	if server.set {
		return execRemote(ctx, cfg, server.path, *token, *pin, *caFile, *idem, msg, *compact, stdout)
	}
	if ipcPath.set {
		path := ipcPath.path
		if path == "" {
			if path, err = ipcSocket(cfg); err != nil {
				return err
			}
		}
		return execIPC(ctx, path, *idem, msg, *compact, stdout)
	}
	log := newLogger(cfg, stderr)
	if !*withJournal {
		log = slog.New(slog.NewJSONHandler(io.Discard, nil)) // "not persisted" is in the answer itself
	}
	var lock *journal.DirLock
	if *withJournal {
		if lock, err = lockDataDir(cfg, "femtoclaw exec --journal"); err != nil {
			return err
		}
	}
	n, err := openNode(cfg, log, *withJournal, nil)
	if err != nil {
		lock.Unlock()
		return err
	}
	n.lock = lock
	a := n.rt.Execute(ctx, &pipeline.Request{Message: msg, Principal: *principal, IdempotencyKey: *idem, Transport: "inproc", Timeout: *timeout})
	out := a.AppendJSON(nil)
	closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.close(closeCtx); err != nil {
		return err
	}
	return printAnswer(stdout, out, *compact)
}

// printAnswer prints an answer (indented unless compact) and turns a
// non-success status, or something that is not an answer, into exit
// status 1. Indenting keeps the answer's member order and its numbers
// exactly as received.
func printAnswer(stdout io.Writer, out []byte, compact bool) error {
	a, err := protocol.ParseAnswer(out)
	if !compact && err == nil {
		var ind bytes.Buffer
		if json.Indent(&ind, out, "", "  ") == nil {
			out = ind.Bytes()
		}
	}
	fmt.Fprintf(stdout, "%s\n", out)
	if err != nil || a.Status != protocol.StatusSuccess {
		return exitError(1)
	}
	return nil
}

// execFlagsApply refuses flags that do not apply to where the message
// goes: in process, --server or --ipc.
func execFlagsApply(fs *flag.FlagSet, server, ipc bool) error {
	if server && ipc {
		return usagef("--server and --ipc: choose one")
	}
	var err error
	fs.Visit(func(f *flag.Flag) {
		switch {
		case err != nil:
		case (server || ipc) && (f.Name == "principal" || f.Name == "journal" || f.Name == "timeout"):
			err = usagef("--%s applies to an in-process execution, not to a server (it authenticates the principal, journals and bounds the call itself)", f.Name)
		case !server && (f.Name == "token" || f.Name == "pin" || f.Name == "ca"):
			err = usagef("--%s applies only with --server", f.Name)
		}
	})
	return err
}

// looksLikeURL tells a URL after a bare --server from a message (a JSON
// object) or "-".
func looksLikeURL(s string) bool {
	return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")
}

// ipcSocket is the ring socket of the server run.json describes, or the
// configured one when no server has described itself.
func ipcSocket(cfg *Config) (string, error) {
	info, err := runfile.Read(cfg.DataDir)
	switch {
	case err == nil && info.Socket != "":
		return info.Socket, nil
	case err == nil:
		return "", fmt.Errorf("the server on %s (pid %d) has no ring socket (ipc.enabled is false, or the platform has none)", cfg.DataDir, info.PID)
	case errors.Is(err, runfile.ErrNoServer):
		return cfg.path(cfg.IPC.Socket), nil
	}
	return "", fmt.Errorf("--ipc: %w", err)
}

// runfileError is an error of package runfile as a command prints it:
// without the package's "runfile: " prefix.
type runfileError struct{ err error }

func (e runfileError) Error() string { return strings.TrimPrefix(e.err.Error(), "runfile: ") }
func (e runfileError) Unwrap() error { return e.err }

// remoteTarget resolves --server: the URL (run.json's when url is "")
// and the certificate pin (--pin or --ca; else run.json's; else, with no
// server described, the pin of DATA_DIR/tls/cert.pem, the certificate
// serve generates).
func remoteTarget(cfg *Config, url, pin, caFile string) (string, string, error) {
	info, rerr := runfile.Read(cfg.DataDir)
	if url == "" {
		if rerr != nil {
			return "", "", fmt.Errorf("--server without a URL: %w (start `femtoclaw serve`, or give --server URL)", runfileError{rerr})
		}
		if url = info.URL(); url == "" {
			return "", "", fmt.Errorf("the server on %s (pid %d) has no HTTP/3 listener (listen.http3 is empty)", info.DataDir, info.PID)
		}
	}
	if pin != "" || caFile != "" {
		return url, pin, nil
	}
	if rerr == nil && info.SPKIPin != "" {
		return url, info.SPKIPin, nil
	}
	certFile := cfg.path("tls/cert.pem")
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return "", "", fmt.Errorf("no --pin or --ca given, no server described in the data directory (%v), and %s is unreadable: %s", runfileError{rerr}, certFile, strings.TrimPrefix(readProblem(err), "cannot read: "))
	}
	blk, _ := pem.Decode(certPEM)
	if blk == nil {
		return "", "", fmt.Errorf("%s holds no PEM certificate", certFile)
	}
	if pin, err = transport.SPKIPin(blk.Bytes); err != nil {
		return "", "", err
	}
	return url, pin, nil
}

// execRemote sends msg to a server over HTTP/3 with the Go client.
func execRemote(ctx context.Context, cfg *Config, url, token, pin, caFile, idem string, msg []byte, compact bool, stdout io.Writer) error {
	url, pin, err := remoteTarget(cfg, url, pin, caFile)
	if err != nil {
		return err
	}
	if token == "" {
		b, err := os.ReadFile(cfg.path(cfg.Auth.TokenFile))
		if err != nil {
			return fmt.Errorf("no --token given and the token file is unreadable: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	cl, err := transport.NewClient(url, transport.ClientConfig{Token: token, SPKIPin: pin, CAFile: caFile})
	if err != nil {
		return err
	}
	defer cl.Close()
	status, body, err := cl.Execute(ctx, msg, idem)
	if err != nil {
		return err
	}
	if err := printAnswer(stdout, body, compact); err != nil {
		return err
	}
	if status != 200 {
		return exitError(1)
	}
	return nil
}

// optionalPath is a flag that may be given alone (--ipc) or with a value
// (--ipc=PATH); the command takes a value after it (--ipc PATH) from
// its positional arguments.
type optionalPath struct {
	set  bool
	path string
}

func (o *optionalPath) String() string { return o.path }
func (o *optionalPath) Set(v string) error {
	o.set = true
	if v != "true" {
		o.path = v
	}
	return nil
}
func (o *optionalPath) IsBoolFlag() bool { return true }

// execIPC sends msg to a running server over its shared-memory ring.
func execIPC(ctx context.Context, path, idem string, msg []byte, compact bool, stdout io.Writer) error {
	c, err := ipc.Dial(ctx, path, ipc.ClientConfig{Spin: -1}) // one request: nothing to gain from spinning
	if err != nil {
		return err
	}
	defer c.Close()
	body, err := c.ExecuteKey(ctx, idem, msg)
	if err != nil {
		return err
	}
	return printAnswer(stdout, body, compact)
}

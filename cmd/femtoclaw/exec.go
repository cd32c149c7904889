package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/femtoclaw/femtoclaw-go/ipc"
	"github.com/femtoclaw/femtoclaw-go/journal"
	"github.com/femtoclaw/femtoclaw-go/pipeline"
	"github.com/femtoclaw/femtoclaw-go/protocol"
	"github.com/femtoclaw/femtoclaw-go/transport"
)

func cmdExec(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, environ []string) error {
	var c commonFlags
	fs := newFlagSet("exec", &c)
	principal := fs.String("principal", "local", "principal for an in-process execution (the operator's identity; a server takes it from authentication)")
	withJournal := fs.Bool("journal", false, "journal the execution into the data directory (refused while another writer, such as a server, holds it)")
	compact := fs.Bool("compact", false, "print the answer on one line")
	timeout := fs.Duration("timeout", 0, "capability deadline to ask for (clamped to the capability's maximum)")
	server := fs.String("server", "", "send the message to a running server (https://127.0.0.1:4433) instead of running it in process")
	token := fs.String("token", "", "--server: bearer token (default: read from the data directory's token file)")
	pin := fs.String("pin", "", "--server: SPKI pin of the server certificate (default: computed from DATA_DIR/tls/cert.pem)")
	caFile := fs.String("ca", "", "--server: CA bundle to verify the server certificate instead of a pin")
	idem := fs.String("idempotency-key", "", "idempotency key: a retry with the same key and call replays the first answer (--server: the Idempotency-Key header; --ipc: a keyed ring frame; in process it needs --journal to outlive this process)")
	var ipcPath optionalPath
	fs.Var(&ipcPath, "ipc", "send the message over the shared-memory ring of a running server: --ipc (DATA_DIR/femtoclaw.sock, ipc.socket), --ipc=PATH or --ipc PATH MESSAGE")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: femtoclaw exec [flags] [MESSAGE | -]\n\nRuns one protocol message and prints the answer. Exit status 0 when the answer's status is success, 1 otherwise.")
		fs.PrintDefaults()
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
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
		return fmt.Errorf("one message expected, got %d arguments (quote the JSON)", len(pos))
	}
	cfg, err := loadConfig(c.config, environ, c.sets)
	if err != nil {
		return err
	}
	if *server != "" {
		return execRemote(ctx, cfg, *server, *token, *pin, *caFile, *idem, msg, *compact, stdout)
	}
	if ipcPath.set {
		path := ipcPath.path
		if path == "" {
			path = cfg.path(cfg.IPC.Socket)
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

// execRemote sends msg to a server over HTTP/3 with the Go client.
func execRemote(ctx context.Context, cfg *Config, url, token, pin, caFile, idem string, msg []byte, compact bool, stdout io.Writer) error {
	if token == "" {
		b, err := os.ReadFile(cfg.path(cfg.Auth.TokenFile))
		if err != nil {
			return fmt.Errorf("no --token given and the token file is unreadable: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	if pin == "" && caFile == "" {
		certPEM, err := os.ReadFile(cfg.path("tls/cert.pem"))
		if err != nil {
			return fmt.Errorf("no --pin or --ca given and %s is unreadable: %w", cfg.path("tls/cert.pem"), err)
		}
		blk, _ := pem.Decode(certPEM)
		if blk == nil {
			return fmt.Errorf("%s holds no PEM certificate", cfg.path("tls/cert.pem"))
		}
		if pin, err = transport.SPKIPin(blk.Bytes); err != nil {
			return err
		}
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
// (--ipc=PATH).
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

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/femtoclaw/femtoclaw-go/pipeline"
)

func cmdExec(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, environ []string) error {
	var c commonFlags
	fs := newFlagSet("exec", &c)
	principal := fs.String("principal", "local", "principal for an in-process execution (the operator's identity; a server takes it from authentication)")
	withJournal := fs.Bool("journal", false, "journal the execution into the data directory (fails while a server holds it)")
	compact := fs.Bool("compact", false, "print the answer on one line")
	timeout := fs.Duration("timeout", 0, "capability deadline to ask for (clamped to the capability's maximum)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: femtoclaw exec [flags] [MESSAGE | -]\n\nRuns one protocol message and prints the answer. Exit status 0 when the answer's status is success, 1 otherwise.")
		fs.PrintDefaults()
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
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
	log := newLogger(cfg, stderr)
	if !*withJournal {
		log = slog.New(slog.NewJSONHandler(io.Discard, nil)) // "not persisted" is in the answer itself
	}
	n, err := openNode(cfg, log, *withJournal, nil)
	if err != nil {
		return err
	}
	a := n.rt.Execute(ctx, &pipeline.Request{Message: msg, Principal: *principal, Transport: "inproc", Timeout: *timeout})
	out := a.AppendJSON(nil)
	closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.close(closeCtx); err != nil {
		return err
	}
	if !*compact {
		var v any
		if json.Unmarshal(out, &v) == nil {
			out, _ = json.MarshalIndent(v, "", "  ")
		}
	}
	fmt.Fprintf(stdout, "%s\n", out)
	if a.Status != "success" {
		return exitError(1)
	}
	return nil
}

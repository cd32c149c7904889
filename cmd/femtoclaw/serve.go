package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/femtoclaw/femtoclaw-go/internal/runfile"
	"github.com/femtoclaw/femtoclaw-go/journal"
	"github.com/femtoclaw/femtoclaw-go/pipeline"
	"github.com/femtoclaw/femtoclaw-go/policy"
	"github.com/femtoclaw/femtoclaw-go/stats"
)

// node is a running runtime with everything it owns, in the order it is
// shut down: transports, runtime, journal, event file.
type node struct {
	cfg        *Config
	log        *slog.Logger
	j          *journal.Journal
	rt         *pipeline.Runtime
	metrics    *stats.Registry
	events     io.Closer
	lock       *journal.DirLock // the data directory's writer lock, released last
	adminAddr  string
	http3Addrs []string
	spkiPin    string                        // of the certificate HTTP/3 serves
	socket     string                        // the ring's socket, when it listens
	runDir     string                        // the data directory whose run.json describes this node, once written
	closers    []func(context.Context) error // transports, admin listener
}

// openNode builds the runtime a configuration describes. withJournal
// false runs without persistence (the answers say so).
func openNode(cfg *Config, log *slog.Logger, withJournal bool, eventsOut io.Writer) (*node, error) {
	n := &node{cfg: cfg, log: log, metrics: stats.NewRegistry()}
	reg, regErr := loadRegistry(cfg)
	pol, polSrc, polErr := loadPolicy(cfg)
	cand, candErr := loadShadowPolicy(cfg)
	if err := joinConfigErrors(regErr, polErr, candErr); err != nil {
		return nil, err // every problem of the three, not only the first's
	}
	if err := checkCapabilities(log, cfg, reg, pol); err != nil {
		return nil, err
	}
	pcfg := pipelineConfig(cfg)
	pcfg.Shadow = cand
	pcfg.Logger = log
	pcfg.Metrics = n.metrics
	pcfg.Caches.ValidationBytes = cfg.Cache.ValidationBytes
	pcfg.Caches.DecisionBytes = cfg.Cache.DecisionBytes
	pcfg.Telemetry.Queue = cfg.Telemetry.Queue
	pcfg.Telemetry.TransitionSample = cfg.Telemetry.TransitionSample
	pcfg.Telemetry.Output = eventsOut
	key, err := redactionKey(cfg, withJournal)
	if err != nil {
		return nil, err
	}
	pcfg.RedactionKey = key
	if withJournal && cfg.Journal.Durability != "off" {
		j, err := journal.Open(journal.Config{
			Dir:          cfg.path("journal"),
			Durability:   journal.Durability(cfg.Journal.Durability),
			SyncInterval: cfg.Journal.SyncInterval,
			Codec:        journal.Codec(cfg.Journal.Codec),
			SegmentSize:  cfg.Journal.SegmentSize,
			Logger:       log.With("subsystem", "journal"),
			Retention:    journalRetention(cfg),
		})
		if err != nil {
			return nil, fmt.Errorf("journal: %w", err)
		}
		rep := j.Recovery()
		log.Info("journal open", "dir", cfg.path("journal"), "durability", cfg.Journal.Durability,
			"records", rep.Records, "head_seq", rep.HeadSeq, "head_hash", rep.HeadHash,
			"truncated_bytes", rep.TruncatedBytes, "truncated_records", rep.TruncatedRecords,
			"interrupted", len(rep.Interrupted), "recovery", rep.Duration.String(), "first_seq", rep.FirstSeq)
		for _, in := range rep.Interrupted {
			log.Warn("execution INTERRUPTED: its intent was journaled but no outcome; it will not be re-run",
				"execution_id", in.ExecutionID, "seq", in.Seq, "interrupted_record_seq", in.RecordSeq)
		}
		n.j = j
		registerJournalMetrics(n.metrics, j)
		pcfg.Journal = j
		pcfg.Durable = cfg.Journal.Durability == "always"
	}
	rt, err := pipeline.Open(pcfg, reg, pol)
	if err != nil {
		if n.j != nil {
			n.j.Close()
		}
		return nil, err
	}
	n.rt = rt
	rt.Emit("config_load", "configuration sha256 "+cfg.Hash())
	rt.Emit("policy_load", "policy "+polSrc+" sha256 "+fmt.Sprintf("%x", pol.Hash()))
	log.Info("policy loaded", "source", polSrc, "hash", fmt.Sprintf("%x", pol.Hash()))
	if cand != nil {
		rt.Emit("policy_load", "shadow policy "+cfg.Policy.ShadowFile+" sha256 "+fmt.Sprintf("%x", cand.Hash()))
		logShadow(log, "shadow policy loaded: decided beside the active policy, never acted on", cfg.Policy.ShadowFile, pol, cand)
	}
	return n, nil
}

// logShadow logs a loaded shadow candidate beside the active policy.
func logShadow(log *slog.Logger, msg, src string, pol, cand *policy.Policy) {
	log.Info(msg, "source", src, "hash", fmt.Sprintf("%x", cand.Hash()), "active_hash", fmt.Sprintf("%x", pol.Hash()))
	if cand.Hash() == pol.Hash() {
		log.Warn("the shadow policy is the active policy: every call will agree", "source", src)
	}
}

// policyFields are the audit fields naming the active policy and the
// shadow candidate, if any.
func (n *node) policyFields(fields map[string]any) map[string]any {
	fields["policy_sha256"] = fmt.Sprintf("%x", n.rt.Policy().Hash())
	if cand := n.rt.Shadow(); cand != nil {
		fields["shadow_source"] = n.cfg.Policy.ShadowFile
		fields["shadow_policy_sha256"] = fmt.Sprintf("%x", cand.Hash())
	}
	return fields
}

// audit journals a system event (startup, shutdown, policy load) so the
// audit trail covers the runtime's own life, not only executions.
func (n *node) audit(event string, fields map[string]any) {
	if n.j == nil {
		return
	}
	body := map[string]any{"event": event, "runtime_id": n.cfg.Runtime.ID, "version": version}
	for k, v := range fields {
		body[k] = v
	}
	res, _ := json.Marshal(body)
	_, err := n.j.Append(&journal.Record{Kind: journal.KindSystem, ExecutionID: "system", Principal: "runtime",
		State: "COMPLETED", Status: "success", Rule: event, Result: res})
	if err != nil {
		n.log.Error("could not journal a system event", "event", event, "category", "MEMORY_ERROR", "err", err)
	}
}

// close shuts down in dependency order within ctx.
func (n *node) close(ctx context.Context) error {
	var errs []error
	if n.runDir != "" {
		// First: clients stop finding a server that is going away.
		errs = append(errs, runfile.Remove(n.runDir))
		n.runDir = ""
	}
	for i := len(n.closers) - 1; i >= 0; i-- {
		errs = append(errs, n.closers[i](ctx))
	}
	if n.rt != nil {
		errs = append(errs, n.rt.Shutdown(ctx))
	}
	n.audit("runtime_shutdown", nil)
	if n.j != nil {
		errs = append(errs, n.j.Close())
	}
	if n.events != nil {
		errs = append(errs, n.events.Close())
	}
	errs = append(errs, n.lock.Unlock())
	return errors.Join(errs...)
}

// journalRetention maps journal.retention onto the journal's config. The
// idempotency window is never removed: the key index reads it back at
// start.
func journalRetention(cfg *Config) journal.RetentionConfig {
	r := cfg.Journal.Retention
	rc := journal.RetentionConfig{MaxAge: r.MaxAge, MaxBytes: r.MaxBytes, ArchiveDir: cfg.path(r.ArchiveDir)}
	if cfg.Execution.Idempotency.Enabled {
		rc.MinAge = cfg.Execution.Idempotency.Retention
	}
	return rc
}

func openEvents(cfg *Config, stderr io.Writer) (io.Writer, io.Closer, error) {
	switch cfg.Telemetry.Events {
	case "off", "":
		return nil, nil, nil
	case "stdout":
		return os.Stdout, nil, nil
	case "stderr":
		return stderr, nil, nil
	}
	f, err := openEventsFile(cfg.path(cfg.Telemetry.Events), cfg.Telemetry.EventsMaxBytes, cfg.Telemetry.EventsKeep)
	if err != nil {
		return nil, nil, err
	}
	return f, f, nil
}

func cmdServe(ctx context.Context, inv *invocation, args []string) error {
	start := time.Now()
	stderr := inv.stderr
	var c commonFlags
	fs := inv.flags(&c)
	c.withDataDir(fs)
	c.keyFlag(fs, "listen", "listen.http3", "the HTTP/3 UDP `ADDRS`, comma-separated (listen.http3)")
	c.keyFlag(fs, "admin", "listen.admin", "the admin listener's TCP `ADDR`, or off (listen.admin)")
	c.keyFlag(fs, "durability", "journal.durability", "journal durability `MODE`: always | interval | off (journal.durability)")
	c.keyFlag(fs, "policy", "policy.file", "the policy `FILE` (policy.file)")
	pos, err := inv.parse(fs, args)
	if err != nil {
		return err
	}
	if err := inv.noArgs(pos); err != nil {
		return err
	}
	for i, f := range c.flags {
		if f.key == "listen.admin" && strings.EqualFold(f.value, "off") {
			c.flags[i].value = ""
		}
	}
	var phases []any // startup phase durations, logged with "ready" (FC-BENCH §5)
	mark := func(name string, since time.Time) time.Time {
		now := time.Now()
		phases = append(phases, name, now.Sub(since).String())
		return now
	}
	cfg, err := c.load(inv.environ)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	if cfg.Runtime.GCPercent > 0 && os.Getenv("GOGC") == "" {
		debug.SetGCPercent(cfg.Runtime.GCPercent)
	}
	lock, err := lockDataDir(cfg, "femtoclaw serve")
	if err != nil {
		return err
	}
	tokenSum, generated, err := ensureToken(cfg)
	if err != nil {
		lock.Unlock()
		return err
	}
	if generated != "" {
		fmt.Fprintf(stderr, "\nA bearer token was generated and stored in %s (mode 0600).\nIt is shown once:\n\n    %s\n\n", cfg.path(cfg.Auth.TokenFile), generated)
	}
	eventsOut, eventsCloser, err := openEvents(cfg, stderr)
	if err != nil {
		lock.Unlock()
		return err
	}
	t := mark("config", start)
	n, err := openNode(cfg, log, true, eventsOut)
	if err != nil {
		if eventsCloser != nil {
			eventsCloser.Close()
		}
		lock.Unlock()
		return err
	}
	n.events = eventsCloser
	n.lock = lock
	logShellConfinement(log, n.rt.Registry())
	t = mark("runtime_journal_registry_policy", t)
	if err := n.startListeners(tokenSum); err != nil {
		n.close(context.Background())
		return err
	}
	var listening []string
	for _, a := range n.http3Addrs {
		listening = append(listening, "udp "+a)
	}
	if n.adminAddr != "" {
		listening = append(listening, "tcp "+n.adminAddr+" (admin)")
	}
	if err := lock.SetListeners(listening); err != nil {
		log.Warn("could not record the listeners in the data directory's lock file", "err", err)
	}
	if err := n.writeRunFile(start); err != nil {
		n.close(context.Background())
		return err
	}
	t = mark("listeners", t)
	n.audit("runtime_startup", n.policyFields(map[string]any{"config_sha256": cfg.Hash()}))
	mark("startup_record", t)
	durable := n.rt.Durable()
	if !durable {
		log.Warn("journal is not in 'always' mode: answers are not durable when sent", "durability", cfg.Journal.Durability)
	}
	// The signals are caught before "ready" is said: a supervisor that
	// stops the server as soon as it reads it gets the graceful shutdown.
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sig)
	log.Info("femtoclaw ready", "version", version, "config_hash", cfg.Hash(), "data_dir", cfg.DataDir,
		"durable", durable, "startup", time.Since(start).String(), slog.Group("phases", phases...))

	for {
		select {
		case <-ctx.Done():
			return n.shutdown(log)
		case s := <-sig:
			if s == syscall.SIGHUP {
				n.reloadPolicy(log)
				continue
			}
			log.Info("shutting down", "signal", s.String())
			return n.shutdown(log)
		}
	}
}

// writeRunFile describes the node in DATA_DIR/run.json for the client
// commands (package runfile). The data directory is locked, so a run.json
// already there was left by a server that did not shut down cleanly.
func (n *node) writeRunFile(start time.Time) error {
	dir, err := filepath.Abs(n.cfg.DataDir)
	if err != nil {
		return fmt.Errorf("run.json: %w", err)
	}
	if old, err := runfile.Read(dir); old != nil {
		n.log.Warn("replacing the run.json of a server that did not shut down cleanly", "pid", old.PID, "started", old.Started, "stale", err != nil)
	}
	socket := n.socket
	if socket != "" {
		if socket, err = filepath.Abs(socket); err != nil {
			return fmt.Errorf("run.json: %w", err)
		}
	}
	info := &runfile.Info{PID: os.Getpid(), Version: version, Started: start, DataDir: dir,
		HTTP3: n.http3Addrs, Admin: n.adminAddr, SPKIPin: n.spkiPin, Socket: socket}
	if err := runfile.Write(dir, info); err != nil {
		return err
	}
	n.runDir = dir
	n.log.Info("run.json written", "file", runfile.Path(dir))
	return nil
}

func (n *node) shutdown(log *slog.Logger) error {
	return n.shutdownWithin(log, shutdownTimeout)
}

// Shutdown bounds: the drain gets shutdownTimeout; whatever ignores its
// context (a transport, a journal stuck on a dying disk) gets
// shutdownGrace more, then serve returns anyway and the process exits.
const (
	shutdownTimeout = 5 * time.Second
	shutdownGrace   = time.Second
)

// shutdownWithin closes the node within d. It returns by d plus
// shutdownGrace even when a part of the close never returns (a capability
// stuck in the kernel holds its execution, never serve): the error then
// says so, and the caller exits the process.
func (n *node) shutdownWithin(log *slog.Logger, d time.Duration) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	done := make(chan error, 1) // buffered: a close that returns late never blocks
	go func() { done <- n.close(ctx) }()
	timer := time.NewTimer(d + shutdownGrace)
	defer timer.Stop()
	var err error
	select {
	case err = <-done:
	case <-timer.C:
		err = fmt.Errorf("shutdown did not finish within %v; exiting with it unfinished", d+shutdownGrace)
	}
	log.Info("femtoclaw stopped", "shutdown", time.Since(start).String(), "err", err)
	return err
}

// reloadPolicy re-reads the policy file and the shadow policy file, if
// one is configured; if either is invalid, both are rejected and the old
// pair stays. The two are installed in one swap.
func (n *node) reloadPolicy(log *slog.Logger) {
	pol, src, err := loadPolicy(n.cfg)
	if err != nil {
		log.Error("policy reload rejected; the previous policy stays", "category", "CONFIGURATION_ERROR", "err", err)
		return
	}
	_ = checkCapabilities(log, n.cfg, n.rt.Registry(), pol) // warnings only: the registry is unchanged
	cand, err := loadShadowPolicy(n.cfg)
	if err != nil {
		log.Error("policy reload rejected: the shadow policy does not load; the previous policy and shadow policy stay", "category", "CONFIGURATION_ERROR", "err", err)
		return
	}
	if err := n.rt.ReloadShadow(nil, pol, cand); err != nil {
		log.Error("policy reload failed; the previous policy stays", "err", err)
		return
	}
	log.Info("policy reloaded", "source", src, "hash", fmt.Sprintf("%x", pol.Hash()))
	if cand != nil {
		logShadow(log, "shadow policy reloaded", n.cfg.Policy.ShadowFile, pol, cand)
	}
	n.audit("policy_load", n.policyFields(map[string]any{"source": src}))
}

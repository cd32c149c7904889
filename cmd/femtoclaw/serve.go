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
	"runtime/debug"
	"syscall"
	"time"

	"github.com/femtoclaw/femtoclaw-go/journal"
	"github.com/femtoclaw/femtoclaw-go/pipeline"
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
	closers    []func(context.Context) error // transports, admin listener
}

// openNode builds the runtime a configuration describes. withJournal
// false runs without persistence (the answers say so).
func openNode(cfg *Config, log *slog.Logger, withJournal bool, eventsOut io.Writer) (*node, error) {
	n := &node{cfg: cfg, log: log, metrics: stats.NewRegistry()}
	reg, err := loadRegistry(cfg)
	if err != nil {
		return nil, err
	}
	pol, polSrc, err := loadPolicy(cfg)
	if err != nil {
		return nil, err
	}
	pcfg := pipelineConfig(cfg)
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
		n.metrics.GaugeFunc("femtoclaw_journal_bytes_written", "Bytes the journal has written (compressed blocks).", func() float64 { return float64(j.Stats().BytesWritten) })
		registerJournalFsync(n.metrics, j)
		n.metrics.GaugeFunc("femtoclaw_journal_records", "Records the journal has appended since open.", func() float64 { return float64(j.Stats().Appends) })
		n.metrics.GaugeFunc("femtoclaw_journal_ready", "1 while the journal accepts writes, 0 after a sticky write or sync error.", func() float64 {
			if j.Ready() {
				return 1
			}
			return 0
		})
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
	return n, nil
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

func cmdServe(ctx context.Context, args []string, stderr io.Writer, environ []string) error {
	start := time.Now()
	var c commonFlags
	fs := newFlagSet("serve", &c)
	dataDir := fs.String("data-dir", "", "data directory (journal, TLS material, token)")
	listen := fs.String("listen", "", "HTTP/3 UDP addresses, comma-separated")
	admin := fs.String("admin", "", "admin TCP address (\"off\" disables it)")
	durability := fs.String("durability", "", "journal durability: always | interval | off")
	policyFile := fs.String("policy", "", "policy file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sets := c.sets
	for k, v := range map[string]*string{"data_dir": dataDir, "listen.http3": listen, "listen.admin": admin, "journal.durability": durability, "policy.file": policyFile} {
		if *v != "" {
			if k == "listen.admin" && *v == "off" {
				*v = ""
				sets = append(sets, k+"=")
				continue
			}
			sets = append(sets, k+"="+*v)
		}
	}
	var phases []any // startup phase durations, logged with "ready" (FC-BENCH §5)
	mark := func(name string, since time.Time) time.Time {
		now := time.Now()
		phases = append(phases, name, now.Sub(since).String())
		return now
	}
	cfg, err := loadConfig(c.config, environ, sets)
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
	t = mark("listeners", t)
	n.audit("runtime_startup", map[string]any{"config_sha256": cfg.Hash(), "policy_sha256": fmt.Sprintf("%x", n.rt.Policy().Hash())})
	mark("startup_record", t)
	durable := n.rt.Durable()
	if !durable {
		log.Warn("journal is not in 'always' mode: answers are not durable when sent", "durability", cfg.Journal.Durability)
	}
	log.Info("femtoclaw ready", "version", version, "config_hash", cfg.Hash(), "data_dir", cfg.DataDir,
		"durable", durable, "startup", time.Since(start).String(), slog.Group("phases", phases...))

	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sig)
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

// reloadPolicy re-reads the policy file; an invalid one is rejected and
// the old policy stays.
func (n *node) reloadPolicy(log *slog.Logger) {
	pol, src, err := loadPolicy(n.cfg)
	if err != nil {
		log.Error("policy reload rejected; the previous policy stays", "category", "CONFIGURATION_ERROR", "err", err)
		return
	}
	if err := n.rt.Reload(nil, pol); err != nil {
		log.Error("policy reload failed; the previous policy stays", "err", err)
		return
	}
	log.Info("policy reloaded", "source", src, "hash", fmt.Sprintf("%x", pol.Hash()))
	n.audit("policy_load", map[string]any{"source": src, "policy_sha256": fmt.Sprintf("%x", pol.Hash())})
}

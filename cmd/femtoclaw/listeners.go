package main

import (
	"errors"
	"fmt"

	"github.com/femtoclaw/femtoclaw-go/ipc"
	"github.com/femtoclaw/femtoclaw-go/pipeline"
	"github.com/femtoclaw/femtoclaw-go/stats"
	"github.com/femtoclaw/femtoclaw-go/transport"
	"github.com/femtoclaw/femtoclaw-go/transport/admin"
)

// startListeners starts the faces of a node: the admin listener
// (metrics, health, readiness, pprof, stats), the HTTP/3 data plane and
// the shared-memory ring's socket.
func (n *node) startListeners(tokenSum string) error {
	if n.cfg.Listen.Admin != "" {
		if err := n.startAdmin(); err != nil {
			return err
		}
	}
	if n.cfg.IPC.Enabled {
		if err := n.startIPC(); err != nil {
			return err
		}
	}
	if len(n.cfg.Listen.HTTP3) == 0 {
		n.log.Warn("no HTTP/3 address configured: the runtime serves no network clients")
		return nil
	}
	tokens := []transport.Token{{Principal: n.cfg.Auth.TokenPrincipal, SHA256: tokenSum}}
	for _, t := range n.cfg.Auth.Tokens {
		tokens = append(tokens, transport.Token{Principal: t.Principal, SHA256: t.SHA256})
	}
	var lookup transport.Lookup
	if n.j != nil {
		lookup = n.j.Get
	}
	srv, err := transport.NewServer(transport.ServerConfig{
		Addrs:           n.cfg.Listen.HTTP3,
		CertFile:        n.cfg.TLS.CertFile,
		KeyFile:         n.cfg.TLS.KeyFile,
		TLSDir:          n.cfg.path("tls"),
		ClientCAFile:    n.cfg.Auth.ClientCA,
		Tokens:          tokens,
		AdminPrincipals: n.cfg.Auth.AdminPrincipals,
		// The bounds of one client (http3 section).
		MaxHeaderBytes:       n.cfg.HTTP3.MaxHeaderBytes,
		MaxIncomingStreams:   int64(n.cfg.HTTP3.MaxStreamsPerConnection),
		StreamMaxUnsentBytes: n.cfg.HTTP3.StreamMaxUnsentBytes,
		RejectionWindow:      n.cfg.HTTP3.RejectionWindow,
		RejectionMaxSources:  n.cfg.HTTP3.RejectionMaxSources,
		MaxBodyBytes:         int64(n.cfg.Execution.MaxMessageBytes) + 4096,
		Logger:               n.log.With("subsystem", "http3"),
	}, n.rt, lookup)
	if err != nil {
		return fmt.Errorf("http3: %w", err)
	}
	if err := srv.Start(); err != nil {
		return fmt.Errorf("http3: %w", err)
	}
	n.closers = append(n.closers, srv.Shutdown)
	var addrs []string
	for _, a := range srv.Addrs() {
		addrs = append(addrs, a.String())
	}
	n.http3Addrs = addrs
	n.spkiPin = srv.SPKIPin()
	return nil
}

func (n *node) startAdmin() error {
	regHash := n.rt.Registry().Hash()
	var tokenSum string
	if f := n.cfg.Listen.AdminTokenFile; f != "" {
		sum, generated, err := ensureTokenFile(n.cfg.path(f))
		if err != nil {
			return fmt.Errorf("admin token: %w", err)
		}
		if generated != "" {
			n.log.Info("admin token generated", "file", n.cfg.path(f))
		}
		tokenSum = sum
	}
	var head func() admin.JournalHead // nil without a journal
	if n.j != nil {
		head = journalHead(n.j)
	}
	a, err := admin.New(admin.Config{
		Addr:        n.cfg.Listen.Admin,
		Hosts:       n.cfg.Listen.AdminHosts,
		TokenSHA256: tokenSum,
		Pprof:       n.cfg.Listen.AdminPprof,
		Metrics:     n.metrics,
		Build:       admin.Build{Version: version},
		JournalHead: head,
		Logger:      n.log.With("subsystem", "admin"),
		Checks: func() []admin.Check {
			checks := []admin.Check{
				{Name: "not_shutting_down", OK: !n.rt.Closing()},
				{Name: "policy_loaded", OK: n.rt.Policy() != nil},
				{Name: "registry_intact", OK: n.rt.Registry().Hash() == regHash},
			}
			jc := admin.Check{Name: "journal_accepts_writes", OK: true, Detail: "no journal: executions are not persisted"}
			if n.j != nil {
				jc.Detail = ""
				if err := n.j.Err(); err != nil {
					jc.OK, jc.Detail = false, err.Error()
				} else if !n.j.Ready() {
					jc.OK, jc.Detail = false, "journal closed"
				}
			}
			return append(checks, jc)
		},
		OnDegradation: func(e stats.Event) {
			msg := fmt.Sprintf("stage %s %s: p99 %s, budget %s, baseline %s", e.Stage, e.Severity, e.P99, e.Budget, e.Baseline)
			n.log.Warn(e.Type, "stage", e.Stage, "severity", e.Severity, "p99", e.P99.String(), "budget", e.Budget.String(), "baseline", e.Baseline.String())
			n.rt.Emit(e.Type, msg)
		},
	})
	if err != nil {
		return err
	}
	if err := a.Start(); err != nil {
		return fmt.Errorf("admin listener: %w", err)
	}
	n.adminAddr = a.Addr().String()
	n.closers = append(n.closers, a.Shutdown)
	return nil
}

// startIPC starts the shared-memory ring's socket (package ipc). On a
// platform without it, serve logs that and goes on.
func (n *node) startIPC() error {
	ic := n.cfg.IPC
	uids, gids := map[uint32]string{}, map[uint32]string{}
	for _, p := range ic.Peers {
		if p.UID != nil {
			uids[*p.UID] = p.Principal
		} else {
			gids[*p.GID] = p.Principal
		}
	}
	srv, err := ipc.NewServer(ipc.ServerConfig{
		Path: n.cfg.path(ic.Socket), UIDs: uids, GIDs: gids, OwnerPrincipal: n.cfg.Auth.TokenPrincipal,
		MaxFrame: ic.MaxFrame, RequestRing: ic.RequestRing, ResponseRing: ic.ResponseRing,
		MaxInFlight: ic.MaxInFlight, MaxClients: ic.MaxClients, Spin: ic.Spin,
		Logger: n.log.With("subsystem", "ipc"),
	}, n.rt)
	if errors.Is(err, ipc.ErrUnsupported) {
		n.log.Warn("ipc disabled on this platform", "err", err.Error())
		return nil
	}
	if err != nil {
		return fmt.Errorf("ipc: %w", err)
	}
	if err := srv.Start(); err != nil {
		return err
	}
	n.log.Info("ring listening", "socket", srv.Path())
	n.socket = srv.Path()
	n.metrics.GaugeFunc(pipeline.MetricIPCClients, "Clients connected to the shared-memory ring.", func() float64 { return float64(srv.Stats().Clients) })
	const hsHelp = "Ring handshakes, accepted or refused (unmapped peer, version, busy, closing)."
	n.metrics.CounterFunc(pipeline.MetricIPCHandshakesTotal, hsHelp, func() float64 { return float64(srv.Stats().Accepted) }, stats.Label{Name: pipeline.LabelResult, Value: "accepted"})
	n.metrics.CounterFunc(pipeline.MetricIPCHandshakesTotal, hsHelp, func() float64 { return float64(srv.Stats().Refused) }, stats.Label{Name: pipeline.LabelResult, Value: "refused"})
	n.metrics.CounterFunc(pipeline.MetricIPCParksTotal, "Times a ring poller slept on its futex after its spin found nothing to do.", func() float64 { return float64(srv.Stats().Parks) })
	n.metrics.CounterFunc(pipeline.MetricIPCViolationsTotal, "Ring clients disconnected for breaking the ring protocol.", func() float64 { return float64(srv.Stats().Violations) })
	n.closers = append(n.closers, srv.Shutdown)
	return nil
}

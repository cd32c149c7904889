package main

import (
	"fmt"

	"github.com/femtoclaw/femtoclaw-go/stats"
	"github.com/femtoclaw/femtoclaw-go/transport/admin"
)

// startListeners starts the network faces of a node: the admin listener
// (metrics, health, readiness, pprof, stats) and the HTTP/3 data plane.
func (n *node) startListeners(tokenSum string) error {
	if n.cfg.Listen.Admin != "" {
		regHash := n.rt.Registry().Hash()
		a, err := admin.New(admin.Config{
			Addr:    n.cfg.Listen.Admin,
			Metrics: n.metrics,
			Logger:  n.log.With("subsystem", "admin"),
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
	}
	_ = tokenSum
	n.log.Warn("no HTTP/3 data plane is built in yet: the runtime serves in-process callers only")
	return nil
}

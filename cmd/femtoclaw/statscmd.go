package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/femtoclaw/femtoclaw-go/internal/runfile"
	"github.com/femtoclaw/femtoclaw-go/pipeline"
	"github.com/femtoclaw/femtoclaw-go/transport/admin"
)

// cmdStats prints the admin listener's /v1/stats as a live table: per-stage
// percentiles over the last second and ten seconds, and throughput. The
// server is the one DATA_DIR/run.json describes, or --admin's.
func cmdStats(ctx context.Context, inv *invocation, args []string) error {
	var c commonFlags
	fs := inv.flags(&c)
	c.withDataDir(fs)
	addr := fs.String("admin", "", "the admin listener's `ADDR` (default: the one DATA_DIR/run.json names)")
	once := fs.Bool("once", false, "print one table and exit")
	every := fs.Duration("every", time.Second, "the refresh period")
	pos, err := inv.parse(fs, args)
	if err != nil {
		return err
	}
	if err := inv.noArgs(pos); err != nil {
		return err
	}
	if *every <= 0 && !*once {
		return usagef("--every %v: want a positive period", *every)
	}
	cfg, err := c.load(inv.environ)
	if err != nil {
		return err
	}
	target, err := statsTarget(cfg, *addr)
	if err != nil {
		return err
	}
	token, err := adminToken(cfg)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 5 * time.Second}
	stdout := inv.stdout
	for {
		r, err := fetchStats(ctx, client, target.addr, token)
		if err != nil {
			return err
		}
		if !*once {
			fmt.Fprint(stdout, "\x1b[H\x1b[2J") // clear the terminal
		}
		fmt.Fprintln(stdout, target.about)
		printStats(stdout, r)
		if *once {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(*every):
		}
	}
}

// statsServer is the admin listener stats shows, and a line saying whose
// it is.
type statsServer struct {
	addr  string
	about string
}

// statsTarget finds the admin listener: --admin's, or the one of the
// server DATA_DIR/run.json describes. It never falls back to a configured
// default address, which may be another process's.
func statsTarget(cfg *Config, addr string) (statsServer, error) {
	info, rerr := runfile.Read(cfg.DataDir)
	describe := func(i *runfile.Info, a string) string {
		return fmt.Sprintf("server pid %d  version %s  admin %s  data dir %s  started %s",
			i.PID, i.Version, a, i.DataDir, i.Started.Local().Format(time.DateTime))
	}
	if addr != "" {
		if rerr == nil && info.Admin != "" && (addr == info.Admin || addr == runfile.ClientAddr(info.Admin)) {
			return statsServer{addr, describe(info, addr)}, nil
		}
		return statsServer{addr, fmt.Sprintf("admin %s (given by --admin; not the server described in %s)", addr, cfg.DataDir)}, nil
	}
	if rerr != nil {
		return statsServer{}, fmt.Errorf("no server to show: %w (start `femtoclaw serve`, point --data-dir at its data directory, or give --admin ADDR)", runfileError{rerr})
	}
	if info.Admin == "" {
		return statsServer{}, fmt.Errorf("the server on %s (pid %d) has no admin listener (listen.admin is off)", info.DataDir, info.PID)
	}
	a := runfile.ClientAddr(info.Admin)
	return statsServer{a, describe(info, a)}, nil
}

// adminToken reads listen.admin_token_file ("" when none is configured).
func adminToken(cfg *Config) (string, error) {
	f := cfg.Listen.AdminTokenFile
	if f == "" {
		return "", nil
	}
	b, err := os.ReadFile(cfg.path(f))
	if err != nil {
		return "", fmt.Errorf("admin token (listen.admin_token_file): %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func fetchStats(ctx context.Context, c *http.Client, addr, token string) (*admin.Report, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/v1/stats", nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin listener at %s: %w (is `femtoclaw serve` running?)", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("admin listener at %s: %s: %s", addr, resp.Status, strings.TrimSpace(string(body)))
	}
	var r admin.Report
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("decoding /v1/stats: %w", err)
	}
	return &r, nil
}

func dur(ns int64) string {
	switch {
	case ns == 0:
		return "-"
	case ns < 10_000:
		return fmt.Sprintf("%dns", ns)
	case ns < 10_000_000:
		return fmt.Sprintf("%.1fµs", float64(ns)/1e3)
	default:
		return fmt.Sprintf("%.1fms", float64(ns)/1e6)
	}
}

func printStats(w io.Writer, r *admin.Report) {
	fmt.Fprintf(w, "femtoclaw  %s  uptime %.0fs  throughput/s: 1s %.0f  10s %.0f  60s %.0f\n\n",
		r.Time.Format(time.TimeOnly), r.UptimeS, r.Throughput["1s"], r.Throughput["10s"], r.Throughput["60s"])
	fmt.Fprintf(w, "%-52s %9s %9s %9s %9s %9s %9s %11s\n", "STAGE (last 10 s)", "COUNT", "P50", "P90", "P99", "P99.9", "MAX", "ALL P99")
	for _, s := range r.Stages {
		// A stage by its pipeline name (the name of its timings_ns key and
		// its degradation events); any other histogram by its family.
		name := s.Stage
		if name == "" {
			name = strings.TrimSuffix(strings.TrimPrefix(s.Name, "femtoclaw_"), "_seconds")
		}
		if s.Labels != "" {
			name += "{" + s.Labels + "}"
		}
		l := s.Last10s
		fmt.Fprintf(w, "%-52s %9d %9s %9s %9s %9s %9s %11s\n", name, l.Count, dur(l.P50), dur(l.P90), dur(l.P99), dur(l.P999), dur(l.Max), dur(s.All.P99))
	}
	if len(r.Degraded) > 0 {
		fmt.Fprintln(w)
		for _, d := range r.Degraded {
			fmt.Fprintf(w, "DEGRADED %s %s: p99 %s over budget %s\n", d.Stage, d.Severity, d.P99, d.Budget)
		}
	}
	fmt.Fprintln(w)
	for _, k := range sortedKeys(r.Counters) {
		family, _, _ := strings.Cut(k, "{")
		if slices.Contains(shownCounters, family) {
			fmt.Fprintf(w, "%-70s %d\n", k, r.Counters[k])
		}
	}
}

// shownCounters are the counter families the stats table lists.
var shownCounters = []string{pipeline.MetricExecutionsTotal, pipeline.MetricErrorsTotal,
	pipeline.MetricTelemetryDroppedTotal, pipeline.MetricTelemetryExportErrorsTotal, pipeline.MetricOverloadRejectionsTotal}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

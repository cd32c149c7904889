package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/femtoclaw/femtoclaw-go/pipeline"
	"github.com/femtoclaw/femtoclaw-go/transport"
	"github.com/femtoclaw/femtoclaw-go/transport/admin"
)

const metricsGolden = "testdata/metrics.golden"

// TestMetricFamiliesGolden scrapes /metrics of a running serve (a pooled
// capability enabled and one call made over HTTP/3, so every family the
// runtime can expose is registered) and compares its families — name,
// type, help text and label names, values dropped — with
// testdata/metrics.golden. A family renamed, retyped or relabelled fails
// it until the golden is rewritten (FEMTOCLAW_TEST_UPDATE_GOLDEN=1), which
// is the moment to list the change for operators (transport/admin doc,
// "Metric names"). The exposition also passes promtool check metrics when
// promtool is installed.
func TestMetricFamiliesGolden(t *testing.T) {
	dir, root := t.TempDir(), t.TempDir() // fs.read's root must be outside the data directory
	env := []string{"FEMTOCLAW_DATA_DIR=" + dir, "FEMTOCLAW_LISTEN_HTTP3=127.0.0.1:0", "FEMTOCLAW_LISTEN_ADMIN=127.0.0.1:0",
		"FEMTOCLAW_CAPABILITIES_FS_READ_ENABLED=true", "FEMTOCLAW_CAPABILITIES_FS_READ_ROOT=" + root}
	ctx, cancel := context.WithCancel(context.Background())
	w := &lineWaiter{want: "femtoclaw ready", hit: make(chan struct{})}
	done := make(chan int)
	go func() { done <- run(ctx, []string{"serve"}, strings.NewReader(""), io.Discard, w, env) }()
	select {
	case <-w.hit:
	case code := <-done:
		cancel()
		t.Fatalf("serve exited %d before ready:\n%s", code, w.String())
	}
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exit %d:\n%s", code, w.String())
		}
	}()
	adminAddr, h3Addr := logField(w.String(), "admin listener", "addr"), logField(w.String(), "HTTP/3 listening", "addr")
	if adminAddr == "" || h3Addr == "" {
		t.Fatalf("no listener addresses in the log:\n%s", w.String())
	}
	if code, out, errOut := runCLI(t, env, "", "exec", "--server", "https://"+h3Addr, `{"tool_call":{"tool":"echo","args":{"text":"golden"}}}`); code != 0 {
		t.Fatalf("exec --server: %d %s %s", code, out, errOut)
	}

	body := httpGet(t, "http://"+adminAddr+"/metrics")
	if promtool, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("promtool check metrics: %v\n%s", err, out)
		}
	}
	got := metricFamilies(t, body)
	if os.Getenv("FEMTOCLAW_TEST_UPDATE_GOLDEN") == "1" {
		if runtime.GOOS != "linux" {
			t.Fatal("rewrite the golden on linux: the shared-memory ring's families exist only there")
		}
		if err := os.WriteFile(metricsGolden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(metricsGolden)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "linux" {
		want = []byte(dropFamilies(string(want), "femtoclaw_ipc_"))
	}
	if got != string(want) {
		t.Errorf("the metric families changed (rewrite %s with FEMTOCLAW_TEST_UPDATE_GOLDEN=1, and list renames in transport/admin/doc.go):\n%s",
			metricsGolden, lineDiff(string(want), got))
	}

	// build_info carries the binary's version; /healthz is the HTTP/3
	// listener's body; /v1/stats has the journal head and stage names.
	if !strings.Contains(body, pipeline.MetricBuildInfo+`{goversion="`+runtime.Version()+`",revision="`) || !strings.Contains(body, `version="`+version+`"} 1`) {
		t.Errorf("no build_info with version %s and %s", version, runtime.Version())
	}
	if hz := httpGet(t, "http://"+adminAddr+transport.HealthPath); hz != string(transport.HealthJSON()) {
		t.Errorf("admin /healthz %q, want %q", hz, transport.HealthJSON())
	}
	var rep admin.Report
	if err := json.Unmarshal([]byte(httpGet(t, "http://"+adminAddr+"/v1/stats")), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Journal == nil || rep.Journal.Seq < 2 || len(rep.Journal.Hash) != 64 || !strings.HasSuffix(rep.Journal.Segment, ".seg") {
		t.Errorf("/v1/stats journal head %+v", rep.Journal)
	}
	var stages []string
	for _, s := range rep.Stages {
		stages = append(stages, s.Stage)
	}
	for _, st := range []string{pipeline.StageValidate, pipeline.StageCommit, pipeline.StageTotal} {
		if !slices.Contains(stages, st) {
			t.Errorf("/v1/stats stages %v: no %s", stages, st)
		}
	}
	if rep.Build.Version != version || rep.Decisions["AUTHORIZED"] < 1 {
		t.Errorf("/v1/stats build %+v decisions %v", rep.Build, rep.Decisions)
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

// metricFamilies normalizes a Prometheus text exposition to its families:
// per family (in the exposition's order) its HELP and TYPE lines, then
// one line per distinct set of label names, "name{a,b}" (a histogram's
// samples count once, without le and the _bucket/_sum/_count suffixes).
func metricFamilies(t *testing.T, expo string) string {
	t.Helper()
	type fam struct {
		help, kind string
		sets       []string
	}
	fams := map[string]*fam{}
	var order []string
	for _, line := range strings.Split(expo, "\n") {
		if line == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, help, _ := strings.Cut(rest, " ")
			fams[name] = &fam{help: help}
			order = append(order, name)
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, kind, _ := strings.Cut(rest, " ")
			if fams[name] == nil {
				t.Fatalf("TYPE before HELP: %q", line)
			}
			fams[name].kind = kind
			continue
		}
		name, labels := sampleName(t, line)
		f := fams[name]
		if f == nil {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(name, suffix); ok && fams[base] != nil && fams[base].kind == "histogram" {
					f = fams[base]
				}
			}
		}
		if f == nil {
			t.Fatalf("sample of no family: %q", line)
		}
		labels = slices.DeleteFunc(labels, func(l string) bool { return f.kind == "histogram" && l == "le" })
		set := "{" + strings.Join(labels, ",") + "}"
		if !slices.Contains(f.sets, set) {
			f.sets = append(f.sets, set)
		}
	}
	var b strings.Builder
	b.WriteString("# The metric families `femtoclaw serve` exposes on /metrics: name, type, help\n" +
		"# and label names (values dropped). Rewrite: FEMTOCLAW_TEST_UPDATE_GOLDEN=1 go test ./cmd/femtoclaw -run TestMetricFamiliesGolden\n")
	for _, name := range order {
		f := fams[name]
		slices.Sort(f.sets)
		b.WriteString("\n# HELP " + name + " " + f.help + "\n# TYPE " + name + " " + f.kind + "\n")
		for _, s := range f.sets {
			b.WriteString(name + s + "\n")
		}
	}
	return b.String()
}

// sampleName splits a sample line into its metric name and sorted label
// names; label values may hold escaped quotes, commas and braces.
func sampleName(t *testing.T, line string) (string, []string) {
	t.Helper()
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		t.Fatalf("not a sample: %q", line)
	}
	name := line[:i]
	if line[i] == ' ' {
		return name, nil
	}
	var labels []string
	rest := line[i+1:]
	for {
		if strings.HasPrefix(rest, "}") {
			break
		}
		eq := strings.Index(rest, `="`)
		if eq < 0 {
			t.Fatalf("bad labels: %q", line)
		}
		labels = append(labels, strings.TrimPrefix(rest[:eq], ","))
		j := eq + 2
		for ; j < len(rest) && rest[j] != '"'; j++ {
			if rest[j] == '\\' {
				j++
			}
		}
		if j >= len(rest) {
			t.Fatalf("unterminated label value: %q", line)
		}
		rest = rest[j+1:]
	}
	slices.Sort(labels)
	return name, labels
}

// dropFamilies removes the families whose names start with prefix from a
// normalized listing.
func dropFamilies(s, prefix string) string {
	var out []string
	for _, block := range strings.Split(s, "\n\n") {
		if strings.HasPrefix(block, "# HELP "+prefix) {
			continue
		}
		out = append(out, block)
	}
	return strings.Join(out, "\n\n")
}

// lineDiff lists the lines only in want (-) and only in got (+).
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b bytes.Buffer
	for _, l := range w {
		if !slices.Contains(g, l) {
			b.WriteString("- " + l + "\n")
		}
	}
	for _, l := range g {
		if !slices.Contains(w, l) {
			b.WriteString("+ " + l + "\n")
		}
	}
	return b.String()
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

func runCLI(t *testing.T, env []string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb, env)
	return code, out.String(), errb.String()
}

func answer(t *testing.T, s string) *protocol.Answer {
	t.Helper()
	a, err := protocol.ParseAnswer([]byte(s))
	if err != nil {
		t.Fatalf("not an answer: %v\n%s", err, s)
	}
	return a
}

func TestExecShowsTheThreeOutcomes(t *testing.T) {
	env := []string{"FEMTOCLAW_DATA_DIR=" + t.TempDir()}
	code, out, _ := runCLI(t, env, "", "exec", `{"tool_call":{"tool":"echo","args":{"text":"hello"}}}`)
	a := answer(t, out)
	var res struct{ Text string }
	if code != 0 || a.Status != protocol.StatusSuccess || a.Decision != protocol.DecisionAuthorized || json.Unmarshal(a.Result, &res) != nil || res.Text != "hello" {
		t.Fatalf("allowed call: code %d %+v", code, a)
	}
	if a.Journal.Durable {
		t.Fatalf("in-process exec without --journal must say durable false: %+v", a.Journal)
	}

	code, out, _ = runCLI(t, env, "", "exec", `{"tool_call":{"tool":"shell","args":{"bin":"ls"}}}`)
	a = answer(t, out)
	if code != 1 || a.Decision != protocol.DecisionDisabled || a.Rule != "registry" || a.Error == nil || a.Error.Category != protocol.CategoryAuthorization {
		t.Fatalf("denied call: code %d %+v", code, a)
	}

	code, out, _ = runCLI(t, env, `{"message":{"content":"x"},"tool_call":{"tool":"echo","args":{}}}`, "exec", "-", "--compact")
	a = answer(t, out)
	if code != 1 || a.State != protocol.StateError || a.Error == nil || a.Error.Category != protocol.CategoryProtocol ||
		a.Error.Reason != protocol.ReasonAmbiguous || strings.Count(out, "\n") != 1 {
		t.Fatalf("malformed: code %d %+v", code, a)
	}
}

func TestExecPolicyDenialNamesRule(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "p.yaml")
	os.WriteFile(pol, []byte("rules:\n  - {id: echo-only-ops, effect: allow, principals: [ops], capabilities: [echo]}\n"), 0o600)
	env := []string{"FEMTOCLAW_DATA_DIR=" + dir, "FEMTOCLAW_POLICY_FILE=" + pol}
	code, out, _ := runCLI(t, env, "", "exec", "--principal", "intern", `{"tool_call":{"tool":"echo","args":{"text":"x"}}}`)
	a := answer(t, out)
	if code != 1 || a.Decision != protocol.DecisionPolicyViolation || a.Rule != "default-deny" {
		t.Fatalf("code %d %+v", code, a)
	}
	code, out, _ = runCLI(t, env, "", "exec", "--principal", "ops", `{"tool_call":{"tool":"echo","args":{"text":"x"}}}`)
	if a = answer(t, out); code != 0 || a.Rule != "echo-only-ops" {
		t.Fatalf("code %d %+v", code, a)
	}
}

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	os.WriteFile(file, []byte("journal: {durability: interval, sync_interval: 20ms}\nlog: {level: warn}\nexecution: {max_in_flight: 7}\n"), 0o600)
	cfg, err := loadConfig(file, []string{"FEMTOCLAW_LOG_LEVEL=error", "FEMTOCLAW_EXECUTION_MAX_IN_FLIGHT=9", "FEMTOCLAW_CAPABILITIES_FS_READ_ROOT=/srv"},
		[]string{"execution.max_in_flight=11"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Journal.Durability != "interval" || cfg.Journal.SyncInterval != 20*time.Millisecond { // file over default
		t.Errorf("journal %+v", cfg.Journal)
	}
	if cfg.Log.Level != "error" { // env over file
		t.Errorf("log level %q", cfg.Log.Level)
	}
	if cfg.Execution.MaxInFlight != 11 { // flag over env
		t.Errorf("max_in_flight %d", cfg.Execution.MaxInFlight)
	}
	if cfg.Capabilities.FSRead.Root != "/srv" || cfg.Capabilities.Noop.Enabled != true || cfg.Capabilities.Shell.Enabled {
		t.Errorf("capabilities %+v", cfg.Capabilities)
	}
	if cfg.DataDir != "./femtoclaw-data" || cfg.Listen.Admin != "127.0.0.1:9464" || cfg.Listen.HTTP3[0] != "127.0.0.1:4433" {
		t.Errorf("defaults lost: %+v", cfg)
	}

	for _, bad := range []struct{ file, env string }{
		{"jornal: {durability: always}\n", ""},         // unknown key
		{"journal: {durability: sometimes}\n", ""},     // bad value
		{"", "FEMTOCLAW_EXECUTION_MAX_IN_FLIGHT=lots"}, // bad env
		{"listen: {http3: [\"0.0.0.0\"]}\n", ""},       // not an addr:port
	} {
		f := ""
		if bad.file != "" {
			f = filepath.Join(dir, "bad.yaml")
			os.WriteFile(f, []byte(bad.file), 0o600)
		}
		if _, err := loadConfig(f, []string{bad.env}, nil); err == nil {
			t.Errorf("accepted %q %q", bad.file, bad.env)
		}
	}
	if _, err := loadConfig("", nil, []string{"no.such.key=1"}); err == nil {
		t.Error("accepted an unknown --set key")
	}
}

func TestEmbeddedDefaultsAreSafe(t *testing.T) {
	cfg, err := loadConfig("", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range append([]string{cfg.Listen.Admin}, cfg.Listen.HTTP3...) {
		if !strings.HasPrefix(a, "127.0.0.1:") && !strings.HasPrefix(a, "[::1]:") {
			t.Errorf("default bind %q is not loopback", a)
		}
	}
	c := cfg.Capabilities
	if !c.Noop.Enabled || !c.Echo.Enabled || c.Shell.Enabled || c.FSRead.Enabled || c.HTTPGet.Enabled || c.HTTPGet.AllowPrivate {
		t.Errorf("default capabilities %+v", c)
	}
	if cfg.Journal.Durability != "always" {
		t.Errorf("default durability %q", cfg.Journal.Durability)
	}
	if ic := cfg.IPC; !ic.Enabled || ic.Socket != "femtoclaw.sock" || len(ic.Peers) != 0 {
		t.Errorf("default ipc %+v: want the ring on, DATA_DIR/femtoclaw.sock, no peers beyond the owner", ic)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("ipc:\n  peers: [{uid: 5, gid: 6, principal: x}, {principal: y}]\n"), 0o600)
	if _, err := loadConfig(bad, nil, nil); err == nil || !strings.Contains(err.Error(), "ipc.peers[0]") || !strings.Contains(err.Error(), "ipc.peers[1]") {
		t.Errorf("ipc peers with both or neither of uid and gid: %v", err)
	}
}

func TestTokenGeneratedOnceWithMode0600(t *testing.T) {
	cfg, _ := loadConfig("", []string{"FEMTOCLAW_DATA_DIR=" + t.TempDir()}, nil)
	sum1, tok, err := ensureToken(cfg)
	if err != nil || tok == "" || len(sum1) != 64 {
		t.Fatalf("first start: %v %q", err, tok)
	}
	fi, _ := os.Stat(cfg.path(cfg.Auth.TokenFile))
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("token mode %v", fi.Mode().Perm())
	}
	sum2, tok2, err := ensureToken(cfg)
	if err != nil || tok2 != "" || sum2 != sum1 {
		t.Fatalf("second start regenerated or changed the token: %v %q", err, tok2)
	}
	os.Chmod(cfg.path(cfg.Auth.TokenFile), 0o644)
	if _, _, err := ensureToken(cfg); err == nil {
		t.Fatal("a world-readable token file was accepted")
	}
}

func TestPolicyCommands(t *testing.T) {
	code, out, _ := runCLI(t, nil, "", "policy", "check", "../../policy/testdata/anchor.yaml")
	if code != 0 || !strings.Contains(out, "ok: 20 rules") {
		t.Fatalf("check: %d %s", code, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("default: allow\n"), 0o600)
	if code, out, _ := runCLI(t, nil, "", "policy", "check", bad); code != 1 || out != bad+`:1:10: default: "allow" is not accepted: the only default is deny`+"\n" {
		t.Fatalf("bad policy: %d %s", code, out)
	}
	// Decided as serve decides: with shell enabled (and git allowlisted),
	// by the policy; disabled, by the registry.
	code, out, _ = runCLI(t, []string{"FEMTOCLAW_DATA_DIR=" + t.TempDir()}, "", "policy", "eval", "--set", "capabilities.shell.enabled=true",
		"--set", "capabilities.shell.allowed_bins=git", "--policy", "../../policy/testdata/anchor.yaml", "--principal", "agent-1",
		`{"tool_call":{"tool":"shell","args":{"bin":"git","argv":["push","origin"]}}}`)
	var d map[string]any
	json.Unmarshal([]byte(out), &d)
	if code != 1 || d["decision"] != "DENIED_ARGUMENT_INVALID" || d["rule"] != "F5" {
		t.Fatalf("eval: %d %v", code, d)
	}
}

func TestCapabilitiesAndVersion(t *testing.T) {
	code, out, _ := runCLI(t, nil, "", "capabilities")
	if code != 0 || !strings.Contains(out, "noop") || !strings.Contains(out, "http.get") {
		t.Fatalf("%d %s", code, out)
	}
	code, out, _ = runCLI(t, nil, "", "version")
	if code != 0 || !strings.HasPrefix(out, "femtoclaw ") {
		t.Fatalf("%d %s", code, out)
	}
	if code, _, _ := runCLI(t, nil, "", "frobnicate"); code != 2 {
		t.Fatalf("unknown command exit %d", code)
	}
}

// lineWaiter is an io.Writer that signals when a line containing want is written.
type lineWaiter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	hit  chan struct{}
	once sync.Once
}

func (w *lineWaiter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.hit) })
	}
	return len(p), nil
}

func (w *lineWaiter) String() string { w.mu.Lock(); defer w.mu.Unlock(); return w.buf.String() }

// TestServeStartsOnDefaults starts serve with no configuration file (only
// a temporary data directory and free ports), waits for "ready", stops it,
// starts it again, and checks the journal verifies.
func TestServeStartsOnDefaults(t *testing.T) {
	dir := t.TempDir()
	env := []string{"FEMTOCLAW_DATA_DIR=" + dir, "FEMTOCLAW_LISTEN_HTTP3=127.0.0.1:0", "FEMTOCLAW_LISTEN_ADMIN=127.0.0.1:0"}
	for round := range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		w := &lineWaiter{want: "femtoclaw ready", hit: make(chan struct{})}
		done := make(chan int)
		go func() { done <- run(ctx, []string{"serve"}, strings.NewReader(""), io.Discard, w, env) }()
		select {
		case <-w.hit:
		case code := <-done:
			t.Fatalf("serve exited %d before ready:\n%s", code, w.String())
		}
		if round == 0 && !strings.Contains(w.String(), "It is shown once") {
			t.Errorf("first start did not print the generated token:\n%s", w.String())
		}
		if round == 1 && strings.Contains(w.String(), "It is shown once") {
			t.Errorf("second start printed the token again")
		}
		checkAdmin(t, w.String())
		checkHTTP3(t, w.String(), env)
		checkIPC(t, w.String(), env)
		cancel()
		if code := <-done; code != 0 {
			t.Fatalf("serve exit %d:\n%s", code, w.String())
		}
	}
	code, out, _ := runCLI(t, []string{"FEMTOCLAW_DATA_DIR=" + dir}, "", "journal", "verify")
	if code != 0 || !strings.Contains(out, "ok:") {
		t.Fatalf("journal verify: %d %s", code, out)
	}
}

// checkAdmin finds the admin listener's address in the log and checks
// /readyz, /metrics (through promtool when installed) and `femtoclaw stats`.
func checkAdmin(t *testing.T, log string) {
	t.Helper()
	var addr string
	for _, line := range strings.Split(log, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "admin listener" {
			addr, _ = rec["addr"].(string)
		}
	}
	if addr == "" {
		t.Fatalf("no admin listener address in the log:\n%s", log)
	}
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("readyz %d", resp.StatusCode)
	}
	resp, err = http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// The journal's fsync histogram is exposed, and the startup record
	// (durability always) was synced at least once.
	var fsyncs float64
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "femtoclaw_journal_fsync_seconds_count "); ok {
			fsyncs, _ = strconv.ParseFloat(v, 64)
		}
	}
	if !strings.Contains(string(body), "# TYPE femtoclaw_journal_fsync_seconds histogram") || fsyncs < 1 {
		t.Fatalf("no journal fsync histogram with a sync in /metrics:\n%s", body)
	}
	if promtool, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("promtool check metrics: %v\n%s", err, out)
		}
	}
	code, out, _ := runCLI(t, nil, "", "stats", "--once", "--admin", addr)
	if code != 0 || !strings.Contains(out, "throughput/s") {
		t.Fatalf("stats: %d %s", code, out)
	}
}

// checkHTTP3 finds the HTTP/3 address in the log and runs exec --server
// with the token and pin from the data directory.
func checkHTTP3(t *testing.T, log string, env []string) {
	t.Helper()
	var addr string
	for _, line := range strings.Split(log, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "HTTP/3 listening" {
			addr, _ = rec["addr"].(string)
		}
	}
	if addr == "" {
		t.Fatalf("no HTTP/3 address in the log:\n%s", log)
	}
	code, out, errOut := runCLI(t, env, "", "exec", "--server", "https://"+addr, `{"tool_call":{"tool":"echo","args":{"text":"h3"}}}`)
	a := answer(t, out)
	if code != 0 || a.Status != protocol.StatusSuccess || !a.Journal.Durable {
		t.Fatalf("exec --server: %d %+v %s", code, a, errOut)
	}
	code, out, _ = runCLI(t, env, "", "exec", "--server", "https://"+addr, "--token", "wrong", `{"tool_call":{"tool":"echo","args":{}}}`)
	if a = answer(t, out); code != 1 || a.Error == nil || a.Error.Category != protocol.CategorySecurity {
		t.Fatalf("bad token: %d %+v", code, a)
	}
}

// checkIPC runs exec --ipc against the ring socket the log names, by
// its path and by the data directory's default.
func checkIPC(t *testing.T, log string, env []string) {
	t.Helper()
	var sock string
	for _, line := range strings.Split(log, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "ring listening" {
			sock, _ = rec["socket"].(string)
		}
	}
	if sock == "" {
		t.Fatalf("no ring socket in the log:\n%s", log)
	}
	for _, args := range [][]string{{"exec", "--ipc", sock}, {"exec", "--ipc"}, {"exec", "--ipc=" + sock}} {
		code, out, errOut := runCLI(t, env, "", append(args, `{"tool_call":{"tool":"echo","args":{"text":"ring"}}}`)...)
		a := answer(t, out)
		var res struct{ Text string }
		if code != 0 || a.Status != protocol.StatusSuccess || !a.Journal.Durable || json.Unmarshal(a.Result, &res) != nil || res.Text != "ring" {
			t.Fatalf("%v: %d %s %s", args, code, a.AppendJSON(nil), errOut)
		}
	}
	// A keyed call over the ring, twice: the second is the first's answer.
	// (A fresh key each time: the data directory outlives one serve.)
	key := "ring-key-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	var ids []string
	for i := range 2 {
		code, out, errOut := runCLI(t, env, "", "exec", "--ipc", sock, "--idempotency-key", key, `{"tool_call":{"tool":"echo","args":{"text":"k"}}}`)
		a := answer(t, out)
		if code != 0 || a.Replayed != (i == 1) {
			t.Fatalf("keyed ring call %d: %d %s %s", i, code, a.AppendJSON(nil), errOut)
		}
		ids = append(ids, a.ExecutionID)
	}
	if ids[0] != ids[1] {
		t.Fatalf("a replay over the ring answered another execution: %v", ids)
	}
}

func TestConfigRejectsOutOfRangeValues(t *testing.T) {
	for _, c := range []struct {
		set string // key=value
		key string // the key the error must name
	}{
		{"cache.validation_bytes=4294967297", "cache.validation_bytes"},
		{"cache.decision_bytes=5000000000", "cache.decision_bytes"},
		{"execution.max_message_bytes=0", "execution.max_message_bytes"},
		{"execution.max_message_bytes=67108865", "execution.max_message_bytes"},
		{"execution.max_depth=0", "execution.max_depth"},
		{"execution.max_depth=1001", "execution.max_depth"},
		{"execution.max_args=0", "execution.max_args"},
		{"execution.max_args=100001", "execution.max_args"},
		{"execution.max_values=0", "execution.max_values"},
		{"execution.max_values=10000001", "execution.max_values"},
		{"execution.max_in_flight=0", "execution.max_in_flight"},
		{"execution.max_in_flight=10000001", "execution.max_in_flight"},
		{"capabilities.shell.timeout=500us", "capabilities.shell.timeout"},
		{"capabilities.echo.max_timeout=-1s", "capabilities.echo.max_timeout"},
		{"capabilities.shell.timeout=2m", "capabilities.shell.timeout"}, // over max_timeout 60s
		{"capabilities.fs.read.pool_size=-1", "capabilities.fs.read.pool_size"},
		{"capabilities.http.get.pool_size=100001", "capabilities.http.get.pool_size"},
		{"auth.token_file=", "auth.token_file"},
		{"telemetry.queue=-1", "telemetry.queue"},
		{"telemetry.queue=16777217", "telemetry.queue"},
		{"journal.codec=lz4", "journal.codec"},
		{"journal.codec=", "journal.codec"},
		{"log.format=xml", "log.format"},
		{"listen.admin=9464", "listen.admin"},
		{"listen.admin=127.0.0.1:http", "listen.admin"},
		{"listen.admin=0.0.0.0:9464", "listen.admin"},
		{"listen.admin=:9464", "listen.admin"},
		{"listen.admin=[::]:9464", "listen.admin"},
		{"listen.admin=admin.example.com:9464", "listen.admin"},
		{"listen.http3=0.0.0.0:4433", "listen.http3"},
		{"listen.http3=127.0.0.1:4433,[2001:db8::1]:4433", "listen.http3"},
	} {
		_, err := loadConfig("", nil, []string{c.set})
		if err == nil {
			t.Errorf("--set %s accepted", c.set)
			continue
		}
		if !strings.Contains(err.Error(), c.key) {
			t.Errorf("--set %s: error does not name %s: %v", c.set, c.key, err)
		}
	}
	// sync_interval is checked only when durability is interval.
	if _, err := loadConfig("", nil, []string{"journal.durability=interval", "journal.sync_interval=50us"}); err == nil || !strings.Contains(err.Error(), "journal.sync_interval") {
		t.Errorf("interval durability with a 50µs sync_interval: %v", err)
	}
	if _, err := loadConfig("", nil, []string{"journal.durability=always", "journal.sync_interval=0s"}); err != nil {
		t.Errorf("sync_interval is irrelevant under always: %v", err)
	}
}

func TestConfigAcceptsEdgeValues(t *testing.T) {
	for _, sets := range [][]string{
		{"cache.validation_bytes=-1", "cache.decision_bytes=4294967296"},
		{"execution.max_message_bytes=67108864", "execution.max_depth=1000", "execution.max_args=100000", "execution.max_values=10000000", "execution.max_in_flight=10000000"},
		{"execution.max_message_bytes=1", "execution.max_depth=1", "execution.max_args=1", "execution.max_values=1", "execution.max_in_flight=1"},
		{"capabilities.shell.timeout=1ms", "capabilities.shell.max_timeout=1ms", "capabilities.shell.pool_size=0"},
		{"capabilities.http.get.pool_size=100000", "telemetry.queue=16777216"},
		{"telemetry.queue=0", "journal.codec=zstd", "log.format=text"},
		{"journal.codec=none", "journal.durability=interval", "journal.sync_interval=100us"},
		{"listen.admin=localhost:0", "listen.http3=[::1]:0,127.0.0.2:0"},
		{"listen.admin=[::1]:9464"},
		{"listen.admin="}, // off
		{"listen.allow_non_loopback=true", "listen.admin=0.0.0.0:9464", "listen.admin_token_file=admin-token", "listen.http3=0.0.0.0:4433,[::]:4433"},
	} {
		if _, err := loadConfig("", nil, sets); err != nil {
			t.Errorf("%v rejected: %v", sets, err)
		}
	}
}

func TestServeRefusesNonLoopbackAdmin(t *testing.T) {
	env := []string{"FEMTOCLAW_DATA_DIR=" + t.TempDir(), "FEMTOCLAW_LISTEN_HTTP3=127.0.0.1:0", "FEMTOCLAW_LISTEN_ADMIN=0.0.0.0:0"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := run(ctx, []string{"serve"}, strings.NewReader(""), &out, &errb, env)
	if code == 0 || !strings.Contains(errb.String(), "listen.allow_non_loopback") {
		t.Fatalf("serve with a non-loopback admin address: code %d\n%s", code, errb.String())
	}
}

func TestTokenFileTooShortRefused(t *testing.T) {
	cfg, err := loadConfig("", []string{"FEMTOCLAW_DATA_DIR=" + t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	path := cfg.path(cfg.Auth.TokenFile)
	os.MkdirAll(filepath.Dir(path), 0o700)
	if err := os.WriteFile(path, []byte("short-token-15c\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ensureToken(cfg); err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Fatalf("a 15-character token was accepted or the error is unclear: %v", err)
	}
	os.WriteFile(path, []byte("exactly-16-chars\n"), 0o600)
	sum, gen, err := ensureToken(cfg)
	if err != nil || gen != "" || len(sum) != 64 {
		t.Fatalf("a 16-character token: %v %q %q", err, gen, sum)
	}
	// The 0600 check still applies to a long enough token.
	os.Chmod(path, 0o640)
	if _, _, err := ensureToken(cfg); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a group-readable token file was accepted: %v", err)
	}
}

package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecurityAdminStatsSendsToken: with listen.admin_token_file set, the
// admin listener refuses requests without the token and `femtoclaw
// stats` sends it; pprof stays off.
func TestSecurityAdminStatsSendsToken(t *testing.T) {
	dir := t.TempDir()
	env := []string{"FEMTOCLAW_DATA_DIR=" + dir, "FEMTOCLAW_LISTEN_HTTP3=127.0.0.1:0", "FEMTOCLAW_LISTEN_ADMIN=127.0.0.1:0",
		"FEMTOCLAW_LISTEN_ADMIN_TOKEN_FILE=admin-token"}
	ctx, cancel := context.WithCancel(context.Background())
	w := &lineWaiter{want: "femtoclaw ready", hit: make(chan struct{})}
	done := make(chan int)
	go func() { done <- run(ctx, []string{"serve"}, strings.NewReader(""), io.Discard, w, env) }()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exit %d:\n%s", code, w.String())
		}
	}()
	select {
	case <-w.hit:
	case code := <-done:
		t.Fatalf("serve exited %d before ready:\n%s", code, w.String())
	}
	var addr string
	for _, line := range strings.Split(w.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "admin listener" {
			addr, _ = rec["addr"].(string)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, "admin-token"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin token file: %v %v", err, fi)
	}
	status := func(path, token string) int {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tok, _ := os.ReadFile(filepath.Join(dir, "admin-token"))
	for _, c := range []struct {
		path, token string
		want        int
	}{
		{"/v1/stats", "", 401},
		{"/metrics", "", 401},
		{"/metrics", "wrong", 401},
		{"/metrics", strings.TrimSpace(string(tok)), 200},
		{"/debug/pprof/", strings.TrimSpace(string(tok)), 404},
		{"/healthz", "", 200},
	} {
		if got := status(c.path, c.token); got != c.want {
			t.Errorf("%s with token %q: %d, want %d", c.path, c.token, got, c.want)
		}
	}
	if code, out, errOut := runCLI(t, env, "", "stats", "--once", "--admin", addr); code != 0 || !strings.Contains(out, "throughput/s") {
		t.Fatalf("stats with the configured token: %d %s %s", code, out, errOut)
	}
	// Without the token file configured, stats is refused, and says why.
	if code, _, errOut := runCLI(t, []string{"FEMTOCLAW_DATA_DIR=" + dir}, "", "stats", "--once", "--admin", addr); code == 0 || !strings.Contains(errOut, "401") {
		t.Fatalf("stats without a token: %d %s", code, errOut)
	}
}

// TestSecurityAdminConfigRequiresToken: a non-loopback admin listener
// needs allow_non_loopback and a token file.
func TestSecurityAdminConfigRequiresToken(t *testing.T) {
	for _, c := range []struct {
		env  []string
		want string
	}{
		{[]string{"FEMTOCLAW_LISTEN_ADMIN=0.0.0.0:9464"}, "allow_non_loopback"},
		{[]string{"FEMTOCLAW_LISTEN_ADMIN=0.0.0.0:9464", "FEMTOCLAW_LISTEN_ALLOW_NON_LOOPBACK=true"}, "admin_token_file"},
		{[]string{"FEMTOCLAW_LISTEN_ADMIN=[::]:9464", "FEMTOCLAW_LISTEN_ALLOW_NON_LOOPBACK=true"}, "admin_token_file"},
		{[]string{"FEMTOCLAW_LISTEN_ADMIN=admin.example:9464", "FEMTOCLAW_LISTEN_ALLOW_NON_LOOPBACK=true"}, "admin_token_file"},
		{[]string{"FEMTOCLAW_LISTEN_ADMIN=0.0.0.0:9464", "FEMTOCLAW_LISTEN_ALLOW_NON_LOOPBACK=true", "FEMTOCLAW_LISTEN_ADMIN_TOKEN_FILE=admin-token"}, ""},
		{[]string{"FEMTOCLAW_LISTEN_ADMIN=127.0.0.1:9464"}, ""},
	} {
		_, err := loadConfig("", c.env, nil)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%v: %v, want an error naming %q", c.env, err, c.want)
		}
	}
}

// TestSecurityResourcesConfigBounds: the http3 bounds are configurable
// and a value that is no bound (or cannot serve a request) is refused.
func TestSecurityResourcesConfigBounds(t *testing.T) {
	for _, c := range []struct {
		sets []string
		ok   bool
	}{
		{nil, true},
		{[]string{"http3.max_header_bytes=8192", "http3.max_streams_per_connection=256", "http3.stream_max_unsent_bytes=262144", "http3.rejection_window=10s", "http3.rejection_max_sources=64"}, true},
		{[]string{"http3.max_header_bytes=100"}, false},
		{[]string{"http3.max_header_bytes=104857600"}, false},
		{[]string{"http3.max_streams_per_connection=1000000"}, false},
		{[]string{"http3.stream_max_unsent_bytes=1024"}, false},
		{[]string{"http3.rejection_window=1ms"}, false},
		{[]string{"http3.rejection_max_sources=-1"}, false},
	} {
		if _, err := loadConfig("", nil, c.sets); (err == nil) != c.ok {
			t.Errorf("%v: %v", c.sets, err)
		}
	}
}

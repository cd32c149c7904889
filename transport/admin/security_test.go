package admin

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw-go/stats"
)

// Class 7 of the security regression suite: the admin listener is not an
// open door.

func startAdmin(t *testing.T, cfg Config) *Server {
	t.Helper()
	cfg.Metrics = stats.NewRegistry()
	cfg.Tick = time.Hour
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s
}

// rawGet sends one request line and headers as given (host == "" sends
// an HTTP/1.0 request with no Host at all) and returns the status.
func rawGet(t *testing.T, s *Server, path, host string, hdr ...string) int {
	t.Helper()
	addr := s.Addr().(*net.TCPAddr)
	if addr.IP.IsUnspecified() {
		addr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: addr.Port}
	}
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n"
	if host == "" {
		req = "GET " + path + " HTTP/1.0\r\n"
	}
	for _, h := range hdr {
		req += h + "\r\n"
	}
	req += "Connection: close\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusMisdirectedRequest && !strings.Contains(string(body), "host_not_allowed") {
		t.Fatalf("421 without a clear body: %s", body)
	}
	return resp.StatusCode
}

func TestSecurityAdminHostRebinding(t *testing.T) {
	s := startAdmin(t, Config{Addr: "127.0.0.1:0", Hosts: []string{"Metrics.Internal", "proxy.example:8443"}, Pprof: true})
	port := fmt.Sprint(s.Addr().(*net.TCPAddr).Port)
	for _, c := range []struct {
		host string
		want int
	}{
		{"127.0.0.1:" + port, 200},
		{"localhost:" + port, 200},
		{"LOCALHOST:" + port, 200},
		{"localhost.:" + port, 200},
		{"LocalHost.:" + port, 200},
		{"[::ffff:127.0.0.1]:" + port, 200}, // the same address, IPv4-mapped
		{"metrics.internal:" + port, 200},
		{"METRICS.INTERNAL.:" + port, 200},
		{"metrics.internal", 200}, // a configured name without a port (behind a proxy)
		{"proxy.example:8443", 200},
		{"", 421}, // no Host at all
		{"attacker.example:" + port, 421},
		{"attacker.example", 421},
		{"attacker.example.:" + port, 421},
		{"metrics.internal.attacker.example:" + port, 421},
		{"localhost.attacker.example:" + port, 421},
		{"proxy.example:" + port, 421},
		{"proxy.example", 421},
		{"127.0.0.1", 421},   // no port: port 80
		{"localhost", 421},   // no port
		{"127.0.0.1:1", 421}, // another port
		{"127.0.0.2:" + port, 421},
		{"[::1]:" + port, 421}, // not the address this connection reached
		{"2130706433:" + port, 421},
		{"0x7f.0.0.1:" + port, 421},
		{"127.1:" + port, 421},
		{"0.0.0.0:" + port, 421},
	} {
		for _, path := range []string{"/metrics", "/v1/stats", "/readyz", "/healthz", "/debug/pprof/"} {
			if got := rawGet(t, s, path, c.host); got != c.want {
				t.Errorf("Host %q %s: %d, want %d", c.host, path, got, c.want)
			}
		}
	}
}

func TestSecurityAdminHostIPv6(t *testing.T) {
	if ln, err := net.Listen("tcp", "[::1]:0"); err != nil {
		t.Skip("no IPv6 loopback:", err)
	} else {
		ln.Close()
	}
	s := startAdmin(t, Config{Addr: "[::1]:0"})
	port := fmt.Sprint(s.Addr().(*net.TCPAddr).Port)
	for _, c := range []struct {
		host string
		want int
	}{
		{"[::1]:" + port, 200},
		{"[0:0:0:0:0:0:0:1]:" + port, 200},
		{"[0000::0001]:" + port, 200},
		{"localhost:" + port, 200},
		{"::1:" + port, 421}, // unbracketed
		{"[::1]", 421},
		{"127.0.0.1:" + port, 421},
		{"[::2]:" + port, 421},
		{"attacker.example:" + port, 421},
	} {
		if got := rawGet(t, s, "/metrics", c.host); got != c.want {
			t.Errorf("Host %q: %d, want %d", c.host, got, c.want)
		}
	}
}

func TestSecurityAdminToken(t *testing.T) {
	const token = "admin-token-0123456789"
	sum := sha256.Sum256([]byte(token))
	hexSum := hex.EncodeToString(sum[:])
	// Not loopback: a token is required.
	for _, addr := range []string{"0.0.0.0:0", "[::]:0", ":0", "192.0.2.1:9464", "admin.example:9464", "127.0.0.1.example:9464"} {
		if _, err := New(Config{Addr: addr, Metrics: stats.NewRegistry()}); err == nil || !strings.Contains(err.Error(), "token is required") {
			t.Errorf("New(%q) without a token: %v", addr, err)
		}
	}
	if _, err := New(Config{Addr: "0.0.0.0:0", Metrics: stats.NewRegistry(), TokenSHA256: "beef"}); err == nil {
		t.Error("a malformed token digest was accepted")
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0", "[::1]:0", "127.0.0.2:0"} {
		if _, err := New(Config{Addr: addr, Metrics: stats.NewRegistry()}); err != nil {
			t.Errorf("New(%q) loopback without a token: %v", addr, err)
		}
	}
	s := startAdmin(t, Config{Addr: "0.0.0.0:0", TokenSHA256: hexSum, Pprof: true})
	port := fmt.Sprint(s.Addr().(*net.TCPAddr).Port)
	host := "127.0.0.1:" + port
	for _, c := range []struct {
		name, path string
		hdr        []string
		want       int
	}{
		{"no token", "/metrics", nil, 401},
		{"no token, stats", "/v1/stats", nil, 401},
		{"no token, readyz", "/readyz", nil, 401},
		{"no token, pprof", "/debug/pprof/", nil, 401},
		{"wrong token", "/metrics", []string{"Authorization: Bearer wrong"}, 401},
		{"token prefix", "/metrics", []string{"Authorization: Bearer " + token[:10]}, 401},
		{"token as basic", "/metrics", []string{"Authorization: Basic " + token}, 401},
		{"token in another header", "/metrics", []string{"X-Token: " + token}, 401},
		{"token", "/metrics", []string{"Authorization: Bearer " + token}, 200},
		{"token, lowercase scheme", "/v1/stats", []string{"Authorization: bearer " + token}, 200},
		{"token, pprof", "/debug/pprof/", []string{"Authorization: Bearer " + token}, 200},
		{"liveness needs no token", "/healthz", nil, 200},
	} {
		if got := rawGet(t, s, c.path, host, c.hdr...); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	// The token does not waive the Host check.
	if got := rawGet(t, s, "/metrics", "attacker.example:"+port, "Authorization: Bearer "+token); got != 421 {
		t.Errorf("token with a foreign Host: %d", got)
	}
}

func TestSecurityAdminPprofOffByDefault(t *testing.T) {
	s := startAdmin(t, Config{Addr: "127.0.0.1:0"})
	host := s.Addr().String()
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap", "/debug/pprof/goroutine?debug=2", "/debug/pprof/profile?seconds=1", "/debug/pprof/trace", "/debug/pprof/symbol", "/debug/pprof"} {
		if got := rawGet(t, s, p, host); got != 404 {
			t.Errorf("%s with pprof off: %d", p, got)
		}
	}
	on := startAdmin(t, Config{Addr: "127.0.0.1:0", Pprof: true})
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/cmdline"} {
		if got := rawGet(t, on, p, on.Addr().String()); got != 200 {
			t.Errorf("%s with pprof on: %d", p, got)
		}
	}
}

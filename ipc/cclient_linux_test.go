package ipc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCClient builds the C client (cclient/femtoclaw_ring.c, written from
// the layout documentation alone) with cc and runs it against a server
// whose rings are small enough that frames wrap many times.
func TestCClient(t *testing.T) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler (cc) on PATH: the C client is not built or tested")
	}
	bin := filepath.Join(t.TempDir(), "femtoclaw_ring")
	if out, err := exec.Command(cc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-o", bin, "cclient/femtoclaw_ring.c").CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}
	s := startServer(t, ServerConfig{RequestRing: 8192, ResponseRing: 8192, MaxFrame: 4000})
	var in bytes.Buffer
	const n = 300
	for i := range n {
		fmt.Fprintf(&in, "%s\n", echoMsg(fmt.Sprintf("%d:%s", i, strings.Repeat("c", 37*i%1500))))
	}
	in.WriteString(`{"tool_call":{"tool":"noop"` + "\n") // malformed: a PROTOCOL_ERROR answer, exit status 1
	cmd := exec.Command(bin, s.path, "-")
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("C client: %v (want exit status 1 for the malformed line)\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "connected as "+DefaultOwnerPrincipal) {
		t.Fatalf("stderr: %s", stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != n+1 {
		t.Fatalf("%d answers, want %d", len(lines), n+1)
	}
	for i, l := range lines {
		var a struct {
			Status string
			Result struct{ Text string }
			Error  *struct{ Category string }
		}
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatalf("answer %d: %v: %.200s", i, err, l)
		}
		if i == n {
			if a.Error == nil || a.Error.Category != "PROTOCOL_ERROR" {
				t.Fatalf("malformed line answered %.300s", l)
			}
			continue
		}
		if want := fmt.Sprintf("%d:%s", i, strings.Repeat("c", 37*i%1500)); a.Status != "success" || a.Result.Text != want {
			t.Fatalf("answer %d: %.200s", i, l)
		}
	}
	// One message on the command line, exit status 0.
	out, err = exec.Command(bin, s.path, noop).Output()
	if err != nil || !strings.Contains(string(out), `"status":"success"`) {
		t.Fatalf("C client, one message: %v %s", err, out)
	}
}

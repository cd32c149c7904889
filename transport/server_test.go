package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw-go/journal"
	"github.com/femtoclaw/femtoclaw-go/pipeline"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

func TestExecuteOutcomes(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	cases := []struct {
		name     string
		msg      string
		status   int
		state    protocol.State
		decision protocol.Decision
		category protocol.Category
		reason   protocol.Reason
	}{
		{"success noop", `{"tool_call":{"tool":"noop","args":{}}}`, 200, "COMPLETED", "AUTHORIZED", "", ""},
		{"success echo", `{"tool_call":{"tool":"echo","args":{"text":"hi"}}}`, 200, "COMPLETED", "AUTHORIZED", "", ""},
		{"message form", `{"message":{"content":"hello"}}`, 200, "COMPLETED", "", "", ""},
		{"capability error", `{"tool_call":{"tool":"t.fail","args":{}}}`, 200, "ERROR", "AUTHORIZED", "CAPABILITY_ERROR", "ExecutionError"},
		{"deadline", `{"tool_call":{"tool":"t.slow","args":{}}}`, 504, "ERROR", "AUTHORIZED", "CAPABILITY_ERROR", "timeout"},
		// denials
		{"disabled", `{"tool_call":{"tool":"t.off","args":{}}}`, 403, "ERROR", "DENIED_CAPABILITY_DISABLED", "AUTHORIZATION_ERROR", ""},
		{"policy violation", `{"tool_call":{"tool":"t.block","args":{"n":1}}}`, 403, "ERROR", "", "", ""}, // principal below
		{"argument invalid", `{"tool_call":{"tool":"t.arg","args":{"n":500}}}`, 403, "ERROR", "DENIED_ARGUMENT_INVALID", "AUTHORIZATION_ERROR", ""},
		// protocol errors: each class
		{"not found", `{"tool_call":{"tool":"nope","args":{}}}`, 400, "ERROR", "", "PROTOCOL_ERROR", "unknown_capability"},
		{"invalid json", `{"tool_call":`, 400, "ERROR", "", "PROTOCOL_ERROR", "invalid_json"},
		{"markdown fence", "```json\n{\"message\":{\"content\":\"x\"}}\n```", 400, "ERROR", "", "PROTOCOL_ERROR", "invalid_json"},
		{"invalid utf8", "{\"message\":{\"content\":\"\xff\"}}", 400, "ERROR", "", "PROTOCOL_ERROR", "invalid_utf8"},
		{"trailing data", `{"message":{"content":"x"}} {}`, 400, "ERROR", "", "PROTOCOL_ERROR", "trailing_data"},
		{"not object", `[1,2]`, 400, "ERROR", "", "PROTOCOL_ERROR", "not_object"},
		{"ambiguous", `{"message":{"content":"x"},"tool_call":{"tool":"noop","args":{}}}`, 400, "ERROR", "", "PROTOCOL_ERROR", "ambiguous_form"},
		{"no form", `{}`, 400, "ERROR", "", "PROTOCOL_ERROR", "no_form"},
		{"unknown key", `{"message":{"content":"x"},"extra":1}`, 400, "ERROR", "", "PROTOCOL_ERROR", "unknown_key"},
		{"case conflict", `{"tool_call":{"tool":"noop","Tool":"noop","args":{}}}`, 400, "ERROR", "", "PROTOCOL_ERROR", ""},
		{"duplicate key", `{"tool_call":{"tool":"noop","tool":"noop","args":{}}}`, 400, "ERROR", "", "PROTOCOL_ERROR", "duplicate_key"},
		{"wrong type", `{"tool_call":{"tool":5,"args":{}}}`, 400, "ERROR", "", "PROTOCOL_ERROR", "wrong_type"},
		{"missing field", `{"tool_call":{"tool":"noop"}}`, 400, "ERROR", "", "PROTOCOL_ERROR", "missing_field"},
		{"empty content", `{"message":{"content":""}}`, 400, "ERROR", "", "PROTOCOL_ERROR", "empty_content"},
		{"empty tool", `{"tool_call":{"tool":"","args":{}}}`, 400, "ERROR", "", "PROTOCOL_ERROR", "empty_tool"},
		{"args not object", `{"tool_call":{"tool":"noop","args":[]}}`, 400, "ERROR", "", "PROTOCOL_ERROR", "args_not_object"},
		{"too deep", `{"tool_call":{"tool":"echo","args":{"text":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}}}`, 400, "ERROR", "", "PROTOCOL_ERROR", "too_deep"},
		{"invalid arguments", `{"tool_call":{"tool":"echo","args":{"text":5}}}`, 400, "ERROR", "", "PROTOCOL_ERROR", "invalid_arguments"},
		{"empty body", ``, 400, "ERROR", "", "PROTOCOL_ERROR", ""},
	}
	other := e.newClient(ClientConfig{Token: "other-token", SPKIPin: e.srv.SPKIPin()})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cl := e.client
			if c.name == "policy violation" {
				cl = other // "other" may not call t.*: default deny
				c.decision, c.category = "DENIED_POLICY_VIOLATION", "AUTHORIZATION_ERROR"
			}
			status, body, err := cl.Execute(ctx, []byte(c.msg), "")
			if err != nil {
				t.Fatal(err)
			}
			a := decode(t, body)
			if status != c.status || a.State != c.state || a.Decision != c.decision {
				t.Fatalf("got %d %s %q, want %d %s %q: %s", status, a.State, a.Decision, c.status, c.state, c.decision, body)
			}
			if a.ExecutionID == "" || !strings.HasPrefix(a.ExecutionID, "exec-") {
				t.Errorf("execution_id %q", a.ExecutionID)
			}
			if c.category == "" {
				if a.Error != nil || a.Status != "success" {
					t.Fatalf("unexpected error: %s", body)
				}
				if !a.Journal.Durable || a.Journal.Seq == 0 {
					t.Errorf("answer not durable: %s", body)
				}
				return
			}
			if a.Error == nil || a.Error.Category != c.category || (c.reason != "" && a.Error.Reason != c.reason) || a.Status != "error" {
				t.Fatalf("error = %s, want %s/%s", body, c.category, c.reason)
			}
			if a.Error.ID == "" || a.Error.Severity == "" || a.Error.Message == "" || a.Error.Subsystem == "" || a.Error.Timestamp.IsZero() {
				t.Errorf("incomplete error object: %s", body)
			}
		})
	}
}

func TestEchoResultAndIdempotencyKeyJournaled(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	status, body, err := e.client.Execute(ctx, []byte(`{"tool_call":{"tool":"echo","args":{"text":"héllo"}}}`), "key-42")
	if err != nil || status != 200 {
		t.Fatal(status, err)
	}
	a := decode(t, body)
	if string(a.Result) != `{"text":"héllo"}` {
		t.Fatalf("result %s", a.Result)
	}
	rec, err := e.client.Execution(ctx, a.ExecutionID)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		ExecutionID string `json:"execution_id"`
		Records     []struct {
			Type           string `json:"type"`
			Principal      string `json:"principal"`
			IdempotencyKey string `json:"idempotency_key"`
			Capability     string `json:"capability"`
		} `json:"records"`
	}
	if err := json.Unmarshal(rec, &got); err != nil {
		t.Fatal(err, string(rec))
	}
	if got.ExecutionID != a.ExecutionID || len(got.Records) != 1 || got.Records[0].IdempotencyKey != "key-42" ||
		got.Records[0].Principal != "tester" || got.Records[0].Capability != "echo" {
		t.Fatalf("records %s", rec)
	}
	_, err = e.client.Execution(ctx, "exec-does-not-exist")
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 404 {
		t.Fatalf("missing execution: %v", err)
	}
}

func TestExecutionLookupNotConfigured(t *testing.T) {
	e := newEnv(t, envOpts{noJournal: true})
	_, err := e.client.Execution(context.Background(), "exec-x")
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 404 || !bytes.Contains(se.Body, []byte("not configured")) {
		t.Fatalf("got %v", err)
	}
}

func TestCapabilities(t *testing.T) {
	e := newEnv(t, envOpts{})
	b, err := e.client.Capabilities(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Capabilities []struct {
			Name, Version, Description, Effects string
			Enabled                             bool
			Schema                              json.RawMessage
		}
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err, string(b))
	}
	byName := map[string]bool{}
	for _, c := range got.Capabilities {
		byName[c.Name] = c.Enabled
		if c.Version == "" || c.Description == "" || c.Effects == "" || len(c.Schema) == 0 {
			t.Errorf("incomplete entry %+v", c)
		}
	}
	if !byName["noop"] || !byName["echo"] || byName["t.off"] {
		t.Fatalf("enabled flags wrong: %v", byName)
	}
	if _, ok := byName["t.off"]; !ok {
		t.Fatal("disabled capability missing from the list")
	}
}

func TestHTTP3AndHeaders(t *testing.T) {
	e := newEnv(t, envOpts{})
	resp, body := e.raw(http.MethodPost, "/v1/execute", strings.NewReader(`{"tool_call":{"tool":"noop","args":{}}}`),
		map[string]string{"Authorization": "Bearer " + testToken})
	if resp.StatusCode != 200 || resp.ProtoMajor != 3 || resp.Header.Get("X-Femtoclaw-Proto") != "HTTP/3.0" {
		t.Fatalf("status %d proto %s header %q: %s", resp.StatusCode, resp.Proto, resp.Header.Get("X-Femtoclaw-Proto"), body)
	}
	if resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("X-Femtoclaw-Execution-Id") != decode(t, body).ExecutionID {
		t.Fatalf("headers %v", resp.Header)
	}
	// The server saw HTTP/3: its access log says so.
	if !strings.Contains(e.logs.String(), "proto=HTTP/3.0 method=POST path=/v1/execute status=200") {
		t.Fatalf("access log: %s", e.logs.String())
	}
	resp, body = e.raw(http.MethodGet, HealthPath, nil, nil)
	if resp.StatusCode != 200 || !bytes.Equal(body, HealthJSON()) || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("healthz %d %q %v", resp.StatusCode, body, resp.Header)
	}
	resp, body = e.raw(http.MethodGet, "/v1/execute", nil, map[string]string{"Authorization": "Bearer " + testToken})
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
		t.Fatalf("GET /v1/execute: %d %s", resp.StatusCode, body)
	}
	resp, body = e.raw(http.MethodGet, "/nope", nil, nil)
	if resp.StatusCode != 404 || decode(t, body).Error == nil {
		t.Fatalf("404: %d %s", resp.StatusCode, body)
	}
	resp, body = e.raw(http.MethodPost, "/v1/execute", strings.NewReader(`{"message":{"content":"x"}}`),
		map[string]string{"Authorization": "Bearer " + testToken, "Idempotency-Key": strings.Repeat("k", MaxIdempotencyKeyLen+1)})
	if resp.StatusCode != 400 {
		t.Fatalf("long idempotency key: %d %s", resp.StatusCode, body)
	}
}

func TestUnauthenticated(t *testing.T) {
	committed := make(chan string, 1024)
	e := newEnv(t, envOpts{keepServer: true, wrapJournal: func(j pipeline.Journal) pipeline.Journal {
		return &notifyingJournal{Journal: j, committed: committed}
	}})
	ctx := context.Background()
	msg := []byte(`{"tool_call":{"tool":"noop","args":{}}}`)
	for _, c := range []struct {
		name, token string
		reason      protocol.Reason
	}{
		{"missing", "", "missing_credentials"},
		{"bad token", "wrong", "invalid_token"},
	} {
		cl := e.newClient(ClientConfig{Token: c.token, SPKIPin: e.srv.SPKIPin()})
		status, body, err := cl.Execute(ctx, msg, "")
		if err != nil {
			t.Fatal(err)
		}
		a := decode(t, body)
		if status != 401 || a.Error == nil || a.Error.Category != "SECURITY_ERROR" || a.Error.Reason != c.reason || a.State != "ERROR" {
			t.Fatalf("%s: %d %s", c.name, status, body)
		}
		if _, err := cl.Capabilities(ctx); err == nil {
			t.Fatalf("%s: capabilities without credentials", c.name)
		}
	}
	resp, body := e.raw(http.MethodPost, "/v1/execute", bytes.NewReader(msg), map[string]string{"Authorization": "Basic dXNlcjpwdw=="})
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" || decode(t, body).Error.Reason != "malformed_authorization" {
		t.Fatalf("basic auth: %d %s", resp.StatusCode, body)
	}
	// The rejections are journaled as one aggregate for this source and
	// window, whose execution id every 401 names; Shutdown journals the
	// open window.
	id := resp.Header.Get("X-Femtoclaw-Execution-Id")
	if id == "" || decode(t, body).ExecutionID != id {
		t.Fatalf("401 without an execution id: %s", body)
	}
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for got := range committed { // committed asynchronously: wait for it
		if got == id {
			break
		}
	}
	recs, err := e.j.Get(id)
	if err != nil || len(recs) != 1 || recs[0].Kind != journal.KindRejection || recs[0].Principal != "" {
		t.Fatalf("journaled rejection: %v %+v", err, recs)
	}
	var ev struct {
		Source  string            `json:"source"`
		Count   uint64            `json:"count"`
		Reasons map[string]uint64 `json:"reasons"`
	}
	if err := json.Unmarshal(recs[0].Args, &ev); err != nil {
		t.Fatal(err, string(recs[0].Args))
	}
	// 2 Execute + 2 Capabilities calls, and the Basic one.
	if ev.Source != "127.0.0.1" || ev.Count != 5 || ev.Reasons["missing_credentials"] != 2 || ev.Reasons["invalid_token"] != 2 || ev.Reasons["malformed_authorization"] != 1 {
		t.Fatalf("aggregate %s", recs[0].Args)
	}
}

func TestOversizedBody(t *testing.T) {
	e := newEnv(t, envOpts{server: func(c *ServerConfig) { c.MaxBodyBytes = 4096 }})
	big := []byte(`{"tool_call":{"tool":"echo","args":{"text":"` + strings.Repeat("x", 5000) + `"}}}`)
	status, body, err := e.client.Execute(context.Background(), big, "")
	if err != nil {
		t.Fatal(err)
	}
	if a := decode(t, body); status != 413 || a.Error == nil || a.Error.Reason != "too_large" || a.Error.Category != "PROTOCOL_ERROR" {
		t.Fatalf("%d %s", status, body)
	}
	// Unknown length: the read stops one byte past the limit.
	resp, body := e.raw(http.MethodPost, "/v1/execute", io.MultiReader(bytes.NewReader(big)), map[string]string{"Authorization": "Bearer " + testToken})
	if resp.StatusCode != 413 {
		t.Fatalf("chunked: %d %s", resp.StatusCode, body)
	}
	// At the limit exactly it is read whole; one byte more is refused.
	for _, c := range []struct {
		size, status int
	}{{4096, 200}, {4097, 413}} {
		pre, post := `{"tool_call":{"tool":"echo","args":{"text":"`, `"}}}`
		msg := pre + strings.Repeat("y", c.size-len(pre)-len(post)) + post
		resp, body := e.raw(http.MethodPost, "/v1/execute", io.MultiReader(strings.NewReader(msg)), map[string]string{"Authorization": "Bearer " + testToken})
		if resp.StatusCode != c.status {
			t.Fatalf("%d bytes, unknown length: %d %s", c.size, resp.StatusCode, body)
		}
	}
}

func TestPipelineTooLargeIs413(t *testing.T) {
	// The body fits the transport's limit but not the protocol's.
	e := newEnv(t, envOpts{pipeline: func(c *pipeline.Config) { c.Limits.MaxBytes = 1024 }})
	big := []byte(`{"tool_call":{"tool":"echo","args":{"text":"` + strings.Repeat("x", 2000) + `"}}}`)
	status, body, err := e.client.Execute(context.Background(), big, "")
	if err != nil || status != 413 {
		t.Fatalf("%d %v %s", status, err, body)
	}
}

func TestOverloadAndRetryAfter(t *testing.T) {
	e := newEnv(t, envOpts{pipeline: func(c *pipeline.Config) { c.MaxInFlight = 1 }})
	ctx := context.Background()
	done := make(chan int, 1)
	go func() {
		status, _, err := e.client.Execute(ctx, []byte(`{"tool_call":{"tool":"t.block","args":{}}}`), "")
		if err != nil {
			t.Error(err)
		}
		done <- status
	}()
	<-e.blk.started // the one admitted slot is taken
	resp, body := e.raw(http.MethodPost, "/v1/execute", strings.NewReader(`{"tool_call":{"tool":"noop","args":{}}}`),
		map[string]string{"Authorization": "Bearer " + testToken})
	a := decode(t, body)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != RetryAfterSeconds || a.Error == nil || a.Error.Reason != "overloaded" {
		t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, body)
	}
	close(e.blk.release)
	if s := <-done; s != 200 {
		t.Fatalf("blocked call: %d", s)
	}
}

func TestJournalFailedIs503(t *testing.T) {
	e := newEnv(t, envOpts{pjournal: failingJournal{}})
	resp, body := e.raw(http.MethodPost, "/v1/execute", strings.NewReader(`{"tool_call":{"tool":"noop","args":{}}}`),
		map[string]string{"Authorization": "Bearer " + testToken})
	a := decode(t, body)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || a.Error == nil || a.Error.Category != "MEMORY_ERROR" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

func TestRuntimeShuttingDownIs503(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.rt.Shutdown(context.Background())
	status, body, err := e.client.Execute(context.Background(), []byte(`{"tool_call":{"tool":"noop","args":{}}}`), "")
	if err != nil || status != 503 || decode(t, body).Error.Reason != "shutting_down" {
		t.Fatalf("%d %v %s", status, err, body)
	}
}

func TestClientDeadlineClampsCapability(t *testing.T) {
	// t.block (pooled) waits for release or its deadline; the client's
	// deadline travels in X-Femtoclaw-Timeout-Ms and becomes the
	// capability's, so the answer is a 504 rather than a client timeout.
	e := newEnv(t, envOpts{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := e.client.newRequest(ctx, http.MethodPost, "/v1/execute", strings.NewReader(`{"tool_call":{"tool":"t.block","args":{}}}`))
	req.Header.Set("X-Femtoclaw-Timeout-Ms", "50")
	status, body, err := e.client.do(req)
	<-e.blk.started
	if err != nil || status != 504 {
		t.Fatalf("%d %v %s", status, err, body)
	}
}

func TestSPKIPinning(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	msg := []byte(`{"tool_call":{"tool":"noop","args":{}}}`)
	other, _, err := generateCert()
	if err != nil {
		t.Fatal(err)
	}
	p, _ := pemDecode(other)
	wrongPin, err := SPKIPin(p)
	if err != nil {
		t.Fatal(err)
	}
	bad := e.newClient(ClientConfig{Token: testToken, SPKIPin: wrongPin})
	if _, _, err := bad.Execute(ctx, msg, ""); err == nil || !strings.Contains(err.Error(), "pin mismatch") {
		t.Fatalf("wrong pin: %v", err)
	}
	// CA file: the generated certificate is its own trust anchor.
	ca := e.newClient(ClientConfig{Token: testToken, CAFile: filepath.Join(e.dir, "tls", CertFileName)})
	if status, _, err := ca.Execute(ctx, msg, ""); err != nil || status != 200 {
		t.Fatalf("CA file: %d %v", status, err)
	}
	// No pin and no CA: the system roots reject a self-signed certificate.
	sys := e.newClient(ClientConfig{Token: testToken})
	if _, _, err := sys.Execute(ctx, msg, ""); err == nil {
		t.Fatal("self-signed certificate accepted without pin or CA")
	}
	if _, err := NewClient(e.url, ClientConfig{SPKIPin: "not base64!"}); err == nil {
		t.Fatal("bad pin accepted")
	}
}

func TestGeneratedCertReused(t *testing.T) {
	dir := t.TempDir()
	e1 := newEnv(t, envOpts{dir: dir})
	pin := e1.srv.SPKIPin()
	fi, err := os.Stat(filepath.Join(dir, "tls", KeyFileName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", err, fi)
	}
	e1.srv.Shutdown(context.Background())
	e1.rt.Shutdown(context.Background())
	e1.j.Close()
	e2 := newEnv(t, envOpts{dir: dir})
	if e2.srv.SPKIPin() != pin {
		t.Fatal("pin changed across restarts")
	}
	if !bytes.Contains(e2.srv.CertPEM(), []byte("BEGIN CERTIFICATE")) {
		t.Fatal("CertPEM")
	}
}

func TestMTLSPrincipal(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile := writeTestCA(t, dir, "client1")
	e := newEnv(t, envOpts{server: func(c *ServerConfig) { c.ClientCAFile = caFile }})
	cl := e.newClient(ClientConfig{SPKIPin: e.srv.SPKIPin(), CertFile: certFile, KeyFile: keyFile})
	status, body, err := cl.Execute(context.Background(), []byte(`{"tool_call":{"tool":"t.whoami","args":{}}}`), "")
	if err != nil || status != 200 {
		t.Fatalf("%d %v %s", status, err, body)
	}
	if a := decode(t, body); string(a.Result) != `{"principal":"mtls:client1"}` {
		t.Fatalf("result %s", a.Result)
	}
	// A certificate from another CA fails the handshake.
	_, certFile2, keyFile2 := writeTestCA(t, t.TempDir(), "client1")
	cl2 := e.newClient(ClientConfig{SPKIPin: e.srv.SPKIPin(), CertFile: certFile2, KeyFile: keyFile2})
	if _, _, err := cl2.Execute(context.Background(), []byte(`{"tool_call":{"tool":"noop","args":{}}}`), ""); err == nil {
		t.Fatal("certificate from an unknown CA accepted")
	}
	// A bearer token wins over the certificate.
	cl3 := e.newClient(ClientConfig{Token: testToken, SPKIPin: e.srv.SPKIPin(), CertFile: certFile, KeyFile: keyFile})
	_, body, _ = cl3.Execute(context.Background(), []byte(`{"tool_call":{"tool":"t.whoami","args":{}}}`), "")
	if a := decode(t, body); string(a.Result) != `{"principal":"tester"}` {
		t.Fatalf("token+cert: %s", body)
	}
}

func TestStreamOrdered(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	st, err := e.client.Stream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const n = 2000
	msgFor := func(i int) string {
		switch i % 4 {
		case 0:
			return fmt.Sprintf(`{"tool_call":{"tool":"echo","args":{"text":"m%d"}}}`, i)
		case 1:
			return fmt.Sprintf(`{"tool_call":{"tool":"t.pooled","args":{"n":%d}}}`, i) // runs on a pool: completes out of order
		case 2:
			// Distinct bytes: the pipeline's validation cache shares one
			// *protocol.Error between identical rejected messages and
			// setError mutates it (a pipeline data race, reported).
			return fmt.Sprintf(`{"tool_call":{"tool":"nope","args":{"n":%d}}}`, i)
		}
		return `{"tool_call":{"tool":"t.fail","args":{}}}`
	}
	sendErr := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			if err := st.Send([]byte(msgFor(i))); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- st.CloseSend()
	}()
	ids := map[string]bool{}
	for i := 0; i < n; i++ {
		b, err := st.Recv()
		if err != nil {
			t.Fatalf("recv %d: %v", i, err)
		}
		a := decode(t, b)
		ids[a.ExecutionID] = true
		switch i % 4 {
		case 0:
			if string(a.Result) != fmt.Sprintf(`{"text":"m%d"}`, i) {
				t.Fatalf("answer %d out of order: %s", i, b)
			}
		case 1:
			if string(a.Result) != fmt.Sprintf(`{"n":%d}`, i) {
				t.Fatalf("answer %d out of order: %s", i, b)
			}
		case 2:
			if a.Error == nil || a.Error.Reason != "unknown_capability" {
				t.Fatalf("answer %d: %s", i, b)
			}
		case 3:
			if a.Error == nil || a.Error.Category != "CAPABILITY_ERROR" {
				t.Fatalf("answer %d: %s", i, b)
			}
		}
	}
	if _, err := st.Recv(); err != io.EOF {
		t.Fatalf("after the last answer: %v", err)
	}
	if err := <-sendErr; err != nil {
		t.Fatal(err)
	}
	if len(ids) != n {
		t.Fatalf("%d distinct execution ids, want %d", len(ids), n)
	}
}

func TestStreamFrameErrors(t *testing.T) {
	e := newEnv(t, envOpts{server: func(c *ServerConfig) { c.MaxBodyBytes = 1024 }})
	// An oversized frame: the server answers an error frame and ends.
	var body []byte
	body = appendFrame(body, []byte(`{"tool_call":{"tool":"noop","args":{}}}`))
	body = appendFrame(body, bytes.Repeat([]byte("x"), 2000))
	resp, out := e.raw(http.MethodPost, "/v1/stream", bytes.NewReader(body), map[string]string{"Authorization": "Bearer " + testToken})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	r := bytes.NewReader(out)
	first, err := readFrame(r, nil, 1<<20)
	if err != nil || decode(t, first).Status != "success" {
		t.Fatalf("first: %v %s", err, first)
	}
	second, err := readFrame(r, nil, 1<<20)
	if err != nil || decode(t, second).Error.Reason != "too_large" {
		t.Fatalf("second: %v %s", err, second)
	}
	if _, err := readFrame(r, nil, 1<<20); err != io.EOF {
		t.Fatalf("after the error frame: %v", err)
	}
	// Unauthenticated streams are refused before any frame.
	cl := e.newClient(ClientConfig{SPKIPin: e.srv.SPKIPin()})
	_, err = cl.Stream(context.Background())
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 401 {
		t.Fatalf("unauthenticated stream: %v", err)
	}
}

// TestShutdownUnderLoad: every execution the client saw answered 200 is in
// the journal after a restart, and no request hangs.
func TestShutdownUnderLoad(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, envOpts{dir: dir, keepServer: true})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var (
		mu    sync.Mutex
		acked []string
		n     atomic.Int64
	)
	enough := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	const workers = 32
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				status, body, err := e.client.Execute(ctx, []byte(`{"tool_call":{"tool":"noop","args":{}}}`), "")
				if err != nil {
					return // the server went away: expected once shutdown begins
				}
				if status != 200 {
					if status == 503 {
						continue
					}
					t.Errorf("status %d: %s", status, body)
					return
				}
				a, err := protocol.ParseAnswer(body)
				if err != nil || !a.Journal.Durable {
					t.Errorf("200 without a durable answer: %s", body)
					return
				}
				mu.Lock()
				acked = append(acked, a.ExecutionID)
				mu.Unlock()
				if n.Add(1) == 300 {
					once.Do(func() { close(enough) })
				}
			}
		}()
	}
	// Streams in flight too.
	st, err := e.client.Stream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	streamAcked := make(chan []string, 1)
	go func() {
		var ids []string
		for {
			b, err := st.Recv()
			if err != nil {
				streamAcked <- ids
				return
			}
			if a, err := protocol.ParseAnswer(b); err == nil && a.Status == protocol.StatusSuccess {
				ids = append(ids, a.ExecutionID)
			}
		}
	}()
	go func() {
		for ctx.Err() == nil && st.Send([]byte(`{"tool_call":{"tool":"noop","args":{}}}`)) == nil {
		}
	}()
	select {
	case <-enough:
	case <-ctx.Done():
		t.Fatal("load never reached 300 executions")
	}
	start := time.Now()
	if err := e.srv.Shutdown(context.Background()); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	took := time.Since(start)
	wg.Wait() // every worker returns: nothing hangs
	ids := <-streamAcked
	st.Close()
	if ctx.Err() != nil {
		t.Fatal("requests hung past the test deadline")
	}
	t.Logf("shutdown took %v; %d acknowledged executions, %d on the stream", took, len(acked), len(ids))

	e.rt.Shutdown(context.Background())
	if err := e.j.Close(); err != nil {
		t.Fatal(err)
	}
	j, err := journal.Open(journal.Config{Dir: filepath.Join(dir, "journal")})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for _, id := range append(acked, ids...) {
		recs, err := j.Get(id)
		if err != nil || len(recs) == 0 {
			t.Fatalf("acknowledged execution %s is not in the journal: %v", id, err)
		}
	}
}

func TestDualStackAndLifecycleErrors(t *testing.T) {
	e := newEnv(t, envOpts{noJournal: true, keepServer: true, server: func(c *ServerConfig) {
		c.Addrs = []string{"127.0.0.1:0", "[::1]:0"} // ::1 is skipped quietly on a host without IPv6
	}})
	addrs := e.srv.Addrs()
	if len(addrs) < 1 || len(addrs) > 2 {
		t.Fatalf("addrs %v", addrs)
	}
	for _, a := range addrs {
		cl := e.newClient(ClientConfig{Token: testToken, SPKIPin: e.srv.SPKIPin()})
		cl.base.Host = a.String()
		if status, _, err := cl.Execute(context.Background(), []byte(`{"tool_call":{"tool":"noop","args":{}}}`), ""); err != nil || status != 200 {
			t.Fatalf("%s: %d %v", a, status, err)
		}
	}
	if err := e.srv.Start(); err == nil {
		t.Fatal("second Start succeeded")
	}
	if err := e.srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Shutdown(context.Background()); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("second Shutdown: %v", err)
	}
	if err := e.srv.Start(); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Start after Shutdown: %v", err)
	}
	if err := e.srv.Close(); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Close after Shutdown: %v", err)
	}
	if _, err := NewServer(ServerConfig{TLSDir: t.TempDir()}, e.rt, nil); err == nil {
		t.Fatal("a server without credentials was accepted")
	}
	if _, err := NewServer(ServerConfig{TLSDir: t.TempDir(), Tokens: []Token{{Principal: "p", SHA256: "zz"}}}, e.rt, nil); err == nil {
		t.Fatal("a malformed token hash was accepted")
	}
}

// TestCloseIsNowAndOnce closes a server with a request in flight: Close
// does not wait for it (the client's call fails), and a second Close or a
// Shutdown after it returns ErrServerClosed.
func TestCloseIsNowAndOnce(t *testing.T) {
	e := newEnv(t, envOpts{keepServer: true})
	done := make(chan error, 1)
	go func() {
		_, _, err := e.client.Execute(context.Background(), []byte(`{"tool_call":{"tool":"t.block","args":{}}}`), "")
		done <- err
	}()
	<-e.blk.started
	if err := e.srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-done; err == nil {
		t.Fatal("the call in flight got an answer from a closed server")
	}
	close(e.blk.release)
	if err := e.srv.Close(); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("second Close: %v", err)
	}
	if err := e.srv.Shutdown(context.Background()); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Shutdown after Close: %v", err)
	}
	if err := e.srv.Start(); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
}

// TestClientShutdownDrains shuts a client down with a call in flight: new
// calls are refused at once with ErrServerClosed, the call in flight is
// answered, and only then does Shutdown return.
func TestClientShutdownDrains(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.newClient(ClientConfig{Token: testToken, SPKIPin: e.srv.SPKIPin()})
	noop := []byte(`{"tool_call":{"tool":"noop","args":{}}}`)
	if status, _, err := c.Execute(context.Background(), noop, ""); err != nil || status != 200 {
		t.Fatalf("warm-up call: %d %v", status, err)
	}
	type result struct {
		status int
		err    error
	}
	inFlight := make(chan result, 1)
	go func() {
		status, _, err := c.Execute(context.Background(), []byte(`{"tool_call":{"tool":"t.block","args":{}}}`), "")
		inFlight <- result{status, err}
	}()
	<-e.blk.started
	shut := make(chan error, 1)
	go func() { shut <- c.Shutdown(context.Background()) }()
	// Shutdown refuses new calls before it waits.
	for {
		_, _, err := c.Execute(context.Background(), noop, "")
		if errors.Is(err, ErrServerClosed) {
			break
		}
		if err != nil {
			t.Fatalf("call during shutdown: %v", err)
		}
		runtime.Gosched()
	}
	if _, err := c.Stream(context.Background()); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Stream during shutdown: %v", err)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned with a call in flight: %v", err)
	default:
	}
	close(e.blk.release)
	if r := <-inFlight; r.err != nil || r.status != 200 {
		t.Fatalf("call in flight: %d %v", r.status, r.err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := c.Close(); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Close after Shutdown: %v", err)
	}
	if err := c.Shutdown(context.Background()); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("second Shutdown: %v", err)
	}
}

// TestTokenPrincipalNotMTLS: a server refuses a bearer token configured
// for a principal of the mTLS namespace, so no token can pass for a
// client certificate.
func TestTokenPrincipalNotMTLS(t *testing.T) {
	for _, p := range []string{"mtls:client1", "mtls:", ""} {
		if _, err := compileTokens([]Token{{Principal: p, SHA256: HashToken("x")}}); err == nil {
			t.Errorf("token for principal %q accepted", p)
		}
	}
	if _, err := compileTokens([]Token{{Principal: "MTLS-ops", SHA256: HashToken("x")}}); err != nil {
		t.Errorf("an ordinary principal refused: %v", err)
	}
}

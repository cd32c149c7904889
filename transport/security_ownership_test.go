package transport

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/femtoclaw/femtoclaw-go/journal"
)

// Class 1 of the security regression suite: executions belong to their
// principal.

// lookupAs reads GET /v1/executions/{id} as the holder of token and
// returns the status, the body with its per-response fields (error id,
// timestamp) and the id itself blanked, and the header names.
func lookupAs(t *testing.T, e *env, token, id string) (status int, norm string, headers []string, raw []byte) {
	t.Helper()
	hdr := map[string]string{}
	if token != "" {
		hdr["Authorization"] = "Bearer " + token
	}
	resp, body := e.raw(http.MethodGet, "/v1/executions/"+id, nil, hdr)
	norm = regexp.MustCompile(`"error_id":"err-[0-9a-f-]+"|"timestamp":"[^"]*"`).ReplaceAllString(string(body), `"…"`)
	if id != "" {
		norm = strings.ReplaceAll(norm, `\"`+id+`\"`, `\"ID\"`) // the message names the id
	}
	var names []string
	for k := range resp.Header {
		switch k {
		case "Date", "Content-Length": // per response: the clock, and the timestamp's digits
			names = append(names, k)
		default:
			names = append(names, k+"="+strings.Join(resp.Header.Values(k), ","))
		}
	}
	return resp.StatusCode, norm, sortedCopy(names), body
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func TestSecurityOwnershipCrossPrincipal(t *testing.T) {
	e := newEnv(t, envOpts{server: func(c *ServerConfig) {
		c.Tokens = append(c.Tokens, Token{Principal: "auditor", SHA256: HashToken("auditor-token")},
			Token{Principal: "runtime", SHA256: HashToken("runtime-token")})
		c.AdminPrincipals = []string{"auditor"}
	}})
	ctx := context.Background()
	// Principal "tester" (A) leaves records of every kind a request makes.
	ids := map[string]string{}
	for name, msg := range map[string]string{
		"execution":        `{"tool_call":{"tool":"echo","args":{"text":"secret output"}}}`,
		"capability error": `{"tool_call":{"tool":"t.fail","args":{}}}`,
		"policy denial":    `{"tool_call":{"tool":"t.arg","args":{"n":1000}}}`,
		"decode error":     `{"tool_call":`,
		"message":          `{"message":{"content":"hello"}}`,
		"pooled":           `{"tool_call":{"tool":"t.pooled","args":{"n":1}}}`,
	} {
		_, body, err := e.client.Execute(ctx, []byte(msg), "")
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = decode(t, body).ExecutionID
		if ids[name] == "" {
			t.Fatalf("%s: no execution id: %s", name, body)
		}
	}
	// A system record, as `femtoclaw serve` journals them.
	if _, err := e.j.Append(&journal.Record{Kind: journal.KindSystem, ExecutionID: "system", Principal: "runtime", State: "COMPLETED", Status: "success", Rule: "runtime_startup"}); err != nil {
		t.Fatal(err)
	}
	ids["system"] = "system"

	// The answer for an id that does not exist, with the same shape.
	_, missing, missingHdr, _ := lookupAs(t, e, "other-token", "exec-01890000-0000-7000-8000-000000000000")
	for name, id := range ids {
		owner := "tester"
		if name == "system" {
			owner = "runtime"
		}
		for _, c := range []struct {
			who, token string
			want       int
		}{
			{"owner", testToken, 200},
			{"another principal", "other-token", 404},
			{"a principal named like the system", "runtime-token", 404},
			{"admin", "auditor-token", 200},
		} {
			want := c.want
			if name == "system" && c.token == testToken {
				want = 404 // system records are admin-only
			}
			status, body, hdr, raw := lookupAs(t, e, c.token, id)
			if status != want {
				t.Errorf("%s record read by %s: status %d, want %d: %s", name, c.who, status, want, body)
				continue
			}
			if status == 404 {
				// Byte for byte the answer for an id that does not exist.
				if body != missing || strings.Join(hdr, ";") != strings.Join(missingHdr, ";") {
					t.Errorf("%s record read by %s: distinguishable from a missing id:\n got %s %v\nwant %s %v", name, c.who, body, hdr, missing, missingHdr)
				}
				continue
			}
			var got struct {
				Records []struct {
					Principal string `json:"principal"`
				} `json:"records"`
			}
			if err := json.Unmarshal(raw, &got); err != nil || len(got.Records) == 0 {
				t.Fatalf("%s: %v %s", name, err, body)
			}
			for _, r := range got.Records {
				if r.Principal != owner {
					t.Errorf("%s read by %s: a record of principal %q", name, c.who, r.Principal)
				}
			}
		}
	}
	// Other spellings of another's id are not-found too, and say the same.
	for _, id := range []string{strings.ToUpper(ids["execution"]), ids["execution"] + "%20", "%65" + ids["execution"][1:], ids["execution"][:40]} {
		status, _, _, _ := lookupAs(t, e, "other-token", id)
		if status != 404 {
			t.Errorf("%q read by another principal: %d", id, status)
		}
	}
	// The client library reports the same 404.
	_, err := e.newClient(ClientConfig{Token: "other-token", SPKIPin: e.srv.SPKIPin()}).Execution(ctx, ids["execution"])
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 404 {
		t.Fatalf("client: %v", err)
	}
}

// TestSecurityOwnershipNoProcessConstant: nothing an unauthenticated
// caller sees predicts an authenticated principal's execution ids.
func TestSecurityOwnershipNoProcessConstant(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	var exposed, private []string
	for i := range 20 {
		hdr := map[string]string{}
		if i%2 == 1 {
			hdr["Authorization"] = "Bearer wrong"
		}
		resp, body := e.raw(http.MethodPost, "/v1/execute", strings.NewReader(`{"tool_call":{"tool":"noop","args":{}}}`), hdr)
		if resp.StatusCode != 401 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		a := decode(t, body)
		exposed = append(exposed, a.Error.ID[len("err-"):])
		if a.ExecutionID != "" {
			exposed = append(exposed, a.ExecutionID[len("exec-"):])
		}
		if id := resp.Header.Get("X-Femtoclaw-Execution-Id"); id != "" {
			exposed = append(exposed, id[len("exec-"):])
		}
		_, body2, err := e.client.Execute(ctx, []byte(`{"tool_call":{"tool":"noop","args":{}}}`), "")
		if err != nil {
			t.Fatal(err)
		}
		private = append(private, decode(t, body2).ExecutionID[len("exec-"):])
	}
	// In the UUID text, hex digits 15.. (after the version digit) are
	// random, but for the 2 variant bits of digit 19. No digit of a
	// private id may be predicted by the same digit of the exposed ones.
	for _, x := range exposed {
		for _, p := range private {
			if len(x) != len(p) {
				continue
			}
			if x[24:] == p[24:] || x[19:23] == p[19:23] && x[15:18] == p[15:18] {
				t.Fatalf("an unauthenticated answer shares random digits with an execution id: %s vs %s", x, p)
			}
		}
	}
	for pos := 15; pos < 36; pos++ {
		if pos == 18 || pos == 23 {
			continue
		}
		seen := map[byte]bool{}
		for _, p := range private {
			seen[p[pos]] = true
		}
		if len(seen) < 2 {
			t.Errorf("digit %d of 20 execution ids is constant: %q", pos, private)
		}
	}
}

package capability

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// fakeCap is a configurable capability for registry tests.
type fakeCap struct {
	name, version, schema string
	effects               Effects
}

func (f *fakeCap) Name() string        { return f.name }
func (f *fakeCap) Version() string     { return f.version }
func (f *fakeCap) Description() string { return "fake" }
func (f *fakeCap) Schema() []byte      { return []byte(f.schema) }
func (f *fakeCap) Effects() Effects    { return f.effects }
func (f *fakeCap) Execute(context.Context, *Request) ([]byte, error) {
	return []byte(`{}`), nil
}

func fake(name string) *fakeCap {
	return &fakeCap{name: name, version: "1.0.0", schema: `{"type":"object"}`, effects: EffectsNone}
}

func builtinRegistry(t testing.TB, settings map[string]Settings) *Registry {
	t.Helper()
	caps, err := Builtins(BuiltinConfig{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRegistry(caps, settings)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func decode(t testing.TB, msg string) *protocol.Message {
	t.Helper()
	m, err := protocol.Decode([]byte(msg), protocol.Limits{})
	if err != nil {
		t.Fatalf("Decode(%s): %v", msg, err)
	}
	return m
}

func TestNewRegistryErrors(t *testing.T) {
	cases := []struct {
		name     string
		caps     []Capability
		settings map[string]Settings
		want     string
	}{
		{"duplicate", []Capability{fake("a"), fake("a")}, nil, `"a" registered twice`},
		{"case", []Capability{fake("shell"), fake("Shell")}, nil, "differ only in case"},
		{"nil", []Capability{nil}, nil, "is nil"},
		{"empty name", []Capability{fake("")}, nil, "invalid capability name"},
		{"space", []Capability{fake("a b")}, nil, "invalid capability name"},
		{"dot", []Capability{fake("a.")}, nil, "invalid capability name"},
		{"digit", []Capability{fake("1a")}, nil, "invalid capability name"},
		{"long", []Capability{fake(strings.Repeat("a", 129))}, nil, "invalid capability name"},
		{"version", []Capability{&fakeCap{name: "a", version: "1.0", schema: `{}`, effects: EffectsNone}}, nil, "not a semantic version"},
		{"effects", []Capability{&fakeCap{name: "a", version: "1.0.0", schema: `{}`, effects: "sometimes"}}, nil, "invalid effects"},
		{"schema", []Capability{&fakeCap{name: "a", version: "1.0.0", schema: `{"type":"object","oneOf":[]}`, effects: EffectsNone}}, nil, `"a": schema.oneOf: unknown`},
		{"not object", []Capability{&fakeCap{name: "a", version: "1.0.0", schema: `{"type":"string"}`, effects: EffectsNone}}, nil, "must accept an object"},
		{"unknown settings", []Capability{fake("shell")}, map[string]Settings{"shel": {Enabled: true}}, `settings for unknown capability "shel" (did you mean "shell"?)`},
		{"negative timeout", []Capability{fake("a")}, map[string]Settings{"a": {Timeout: -1}}, "timeout is negative"},
		{"max below timeout", []Capability{fake("a")}, map[string]Settings{"a": {Timeout: time.Minute, MaxTimeout: time.Second}}, "below timeout"},
		{"pool", []Capability{fake("a")}, map[string]Settings{"a": {PoolSize: -2}}, "pool_size is negative"},
	}
	for _, c := range cases {
		_, err := NewRegistry(c.caps, c.settings)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
			continue
		}
		if !errors.Is(err, protocol.ErrConfiguration) {
			t.Errorf("%s: %v is not a CONFIGURATION_ERROR", c.name, err)
		}
	}
}

func TestRegistryDisabledByDefault(t *testing.T) {
	r := builtinRegistry(t, map[string]Settings{"echo": {Enabled: true, Timeout: 2 * time.Second}})
	var names []string
	for _, e := range r.Entries() {
		names = append(names, e.Cap.Name())
		if got, want := e.Settings.Enabled, e.Cap.Name() == "echo"; got != want {
			t.Errorf("%s: Enabled = %v, want %v", e.Cap.Name(), got, want)
		}
		if e.Settings.MaxTimeout != DefaultMaxTimeout || e.Settings.PoolSize != DefaultPoolSize {
			t.Errorf("%s: defaults not filled: %+v", e.Cap.Name(), e.Settings)
		}
	}
	if got := strings.Join(names, ","); got != "echo,fs.read,http.get,noop,shell" {
		t.Errorf("Entries = %s", got)
	}
	e, ok := r.Lookup("echo")
	if !ok || e.Settings.Timeout != 2*time.Second {
		t.Errorf("Lookup(echo) = %+v, %v", e, ok)
	}
	if e, _ := r.Lookup("noop"); e.Settings.Timeout != DefaultTimeout {
		t.Errorf("noop timeout %v", e.Settings.Timeout)
	}
	if _, ok := r.Lookup("Echo"); ok {
		t.Error("Lookup is not case-sensitive")
	}
	// Settings with a large Timeout and no MaxTimeout: MaxTimeout follows.
	r2 := builtinRegistry(t, map[string]Settings{"shell": {Timeout: 2 * time.Minute}})
	if e, _ := r2.Lookup("shell"); e.Settings.MaxTimeout != 2*time.Minute {
		t.Errorf("MaxTimeout = %v", e.Settings.MaxTimeout)
	}
}

func TestRegistryValidate(t *testing.T) {
	r := builtinRegistry(t, nil)
	cases := []struct {
		msg    string
		reason protocol.Reason
		want   string
	}{
		{`{"tool_call":{"tool":"noop","args":{}}}`, "", ""},
		{`{"tool_call":{"tool":"shell","args":{"bin":"ls","argv":["-l"]}}}`, "", ""},
		{`{"tool_call":{"tool":"Shell","args":{}}}`, protocol.ReasonUnknownCapability, `unknown capability "Shell"; did you mean "shell"?`},
		{`{"tool_call":{"tool":"NOOP","args":{}}}`, protocol.ReasonUnknownCapability, `did you mean "noop"?`},
		{`{"tool_call":{"tool":"fs.raed","args":{}}}`, protocol.ReasonUnknownCapability, `unknown capability "fs.raed"`},
		{`{"tool_call":{"tool":"ehco2","args":{}}}`, protocol.ReasonUnknownCapability, `unknown capability "ehco2"`},
		{`{"tool_call":{"tool":"http.gets","args":{}}}`, protocol.ReasonUnknownCapability, `did you mean "http.get"?`},
		{`{"tool_call":{"tool":"rm","args":{}}}`, protocol.ReasonUnknownCapability, `unknown capability "rm"`},
		{`{"tool_call":{"tool":"noop","args":{"x":1}}}`, protocol.ReasonInvalidArguments, `args: unknown property "x"`},
		{`{"tool_call":{"tool":"shell","args":{"argv":[]}}}`, protocol.ReasonInvalidArguments, `args: missing required property "bin"`},
		{`{"tool_call":{"tool":"shell","args":{"bin":"ls","argv":["a","b",3]}}}`, protocol.ReasonInvalidArguments, `args.argv[2]: expected string, got number`},
		{`{"tool_call":{"tool":"shell","args":{"bin":"ls","argv":["1","2","3","4","5","6","7","8","9","10","11","12","13","14","15","16","17"]}}}`, protocol.ReasonInvalidArguments, `args.argv: array of 17 items has more than maxItems 16`},
		{`{"tool_call":{"tool":"shell","args":{"bin":"ls","argv":["` + strings.Repeat("é", 257) + `"]}}}`, protocol.ReasonInvalidArguments, `args.argv[0]: string of 257 characters is longer than maxLength 256`},
	}
	for _, c := range cases {
		e, err := r.Validate(decode(t, c.msg))
		if c.want == "" {
			if err != nil || e == nil {
				t.Errorf("%s: %v", c.msg, err)
			}
			continue
		}
		var pe *protocol.Error
		if !errors.As(err, &pe) {
			t.Errorf("%s: err = %v, want a *protocol.Error", c.msg, err)
			continue
		}
		if pe.Category != protocol.CategoryProtocol || pe.Reason != c.reason || !strings.Contains(pe.Message, c.want) {
			t.Errorf("%s: err = %v, want %s %q", c.msg, err, c.reason, c.want)
		}
	}
	if e, err := r.Validate(decode(t, `{"message":{"content":"hi"}}`)); e != nil || err != nil {
		t.Errorf("message form: %v %v", e, err)
	}
}

func TestRegistryValidateZeroAllocs(t *testing.T) {
	r := builtinRegistry(t, nil)
	for _, msg := range []string{
		`{"tool_call":{"tool":"noop","args":{}}}`,
		`{"tool_call":{"tool":"echo","args":{"text":"hello"}}}`,
		`{"tool_call":{"tool":"shell","args":{"bin":"ls","argv":["-l","/tmp"]}}}`,
	} {
		m := decode(t, msg)
		if n := testing.AllocsPerRun(200, func() { _, _ = r.Validate(m) }); n != 0 {
			t.Errorf("%s: %.1f allocs, want 0", msg, n)
		}
		if n := testing.AllocsPerRun(200, func() { _, _ = r.Lookup(m.Tool) }); n != 0 {
			t.Errorf("Lookup: %.1f allocs", n)
		}
	}
}

func TestRegistryHash(t *testing.T) {
	a := builtinRegistry(t, map[string]Settings{"echo": {Enabled: true}})
	b := builtinRegistry(t, map[string]Settings{"echo": {Enabled: true}})
	c := builtinRegistry(t, map[string]Settings{"echo": {Enabled: false}})
	d := builtinRegistry(t, map[string]Settings{"echo": {Enabled: true, Timeout: time.Second}})
	if a.Hash() != b.Hash() {
		t.Error("equal registries hash differently")
	}
	if a.Hash() == c.Hash() || a.Hash() == d.Hash() || c.Hash() == d.Hash() {
		t.Error("settings do not change the hash")
	}
	// Order of registration does not matter.
	caps, _ := Builtins(BuiltinConfig{})
	for i, j := 0, len(caps)-1; i < j; i, j = i+1, j-1 {
		caps[i], caps[j] = caps[j], caps[i]
	}
	e, err := NewRegistry(caps, map[string]Settings{"echo": {Enabled: true}})
	if err != nil || e.Hash() != a.Hash() {
		t.Errorf("registration order changes the hash (%v)", err)
	}
	// Entries returns a copy.
	es := a.Entries()
	es[0] = nil
	if a.Entries()[0] == nil {
		t.Error("Entries exposes the internal slice")
	}
}

func TestErrorType(t *testing.T) {
	err := error(&Error{Type: ErrTimeout, Msg: "x"})
	if !errors.Is(err, &Error{Type: ErrTimeout}) || errors.Is(err, &Error{Type: ErrExecution}) {
		t.Error("Error.Is")
	}
	if TypeOf(err) != ErrTimeout || TypeOf(context.DeadlineExceeded) != ErrTimeout || TypeOf(errors.New("x")) != ErrExecution || TypeOf(nil) != "" {
		t.Error("TypeOf")
	}
}

func TestNoopAndEcho(t *testing.T) {
	ctx := context.Background()
	noop := NewNoop()
	req := &Request{Args: mustValue(t, `{}`)}
	res, err := noop.Execute(ctx, req)
	if err != nil || string(res) != "{}" {
		t.Fatalf("noop = %s, %v", res, err)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = noop.Execute(ctx, req) }); n != 0 {
		t.Errorf("noop allocates %.1f", n)
	}
	echo := NewEcho()
	for in, want := range map[string]string{
		`{}`:                           `{"text":""}`,
		`{"text":"hi"}`:                `{"text":"hi"}`,
		`{"text":"q\"\\\n\u0001 é\t"}`: `{"text":"q\"\\\n\u0001 é\t"}`,
	} {
		res, err := echo.Execute(ctx, &Request{Args: mustValue(t, in)})
		if err != nil || string(res) != want {
			t.Errorf("echo %s = %s, %v; want %s", in, res, err, want)
		}
		if _, err := protocol.ParseValue(res, protocol.Limits{}); err != nil {
			t.Errorf("echo result %s is not valid JSON: %v", res, err)
		}
	}
}

func BenchmarkNoop(b *testing.B) {
	noop := NewNoop()
	ctx := context.Background()
	req := &Request{Args: mustValue(b, `{}`)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := noop.Execute(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRegistryValidate(b *testing.B) {
	r := builtinRegistry(b, nil)
	m := decode(b, `{"tool_call":{"tool":"shell","args":{"bin":"ls","argv":["-l","-a","--color=never","/var/log"]}}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Validate(m); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSettingsTimeoutFor(t *testing.T) {
	s := Settings{Timeout: 2 * time.Second}.WithDefaults()
	for req, want := range map[time.Duration]time.Duration{0: 2 * time.Second, -1: 2 * time.Second, time.Second: time.Second, time.Hour: DefaultMaxTimeout} {
		if got := s.TimeoutFor(req); got != want {
			t.Errorf("TimeoutFor(%v) = %v, want %v", req, got, want)
		}
	}
}

// TestBuiltinsConcurrent runs every built-in from many goroutines at once
// (meaningful under -race).
func TestBuiltinsConcurrent(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "f.txt"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	caps, err := Builtins(BuiltinConfig{Shell: ShellConfig{AllowedBins: []string{"echo"}}, FSRead: FSReadConfig{Root: root}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRegistry(caps, nil)
	if err != nil {
		t.Fatal(err)
	}
	msgs := []*protocol.Message{
		decode(t, `{"tool_call":{"tool":"noop","args":{}}}`),
		decode(t, `{"tool_call":{"tool":"echo","args":{"text":"x"}}}`),
		decode(t, `{"tool_call":{"tool":"shell","args":{"bin":"echo","argv":["y"]}}}`),
		decode(t, `{"tool_call":{"tool":"fs.read","args":{"path":"f.txt"}}}`),
		decode(t, `{"tool_call":{"tool":"http.get","args":{"url":"http://127.0.0.1:1/"}}}`),
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8*len(msgs))
	for range 8 {
		for _, m := range msgs {
			wg.Go(func() {
				e, err := r.Validate(m)
				if err != nil {
					errs <- err
					return
				}
				res, err := e.Cap.Execute(context.Background(), &Request{Args: m.Args})
				if m.Tool == "http.get" {
					if !errors.Is(err, &Error{Type: ErrAuthorization}) {
						errs <- fmt.Errorf("http.get: %v", err)
					}
					return
				}
				if err != nil {
					errs <- fmt.Errorf("%s: %v", m.Tool, err)
					return
				}
				if _, err := protocol.ParseValue(res, protocol.Limits{}); err != nil {
					errs <- fmt.Errorf("%s: invalid result %s", m.Tool, res)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

package capability

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// limitedCap is a capability that is unavailable on this platform.
type limitedCap struct {
	fakeCap
	why string
}

func (l *limitedCap) unavailable() string { return l.why }

// TestRegistryRefusesUnavailable: a capability unavailable on this
// platform registers disabled but cannot be enabled, and the error names
// the platform and the reason.
func TestRegistryRefusesUnavailable(t *testing.T) {
	c := &limitedCap{fakeCap: *fake("limited"), why: "needs a thing"}
	if _, err := NewRegistry([]Capability{c}, map[string]Settings{"limited": {}}); err != nil {
		t.Fatalf("register disabled: %v", err)
	}
	_, err := NewRegistry([]Capability{c}, map[string]Settings{"limited": {Enabled: true}})
	if err == nil || !errors.Is(err, protocol.ErrConfiguration) ||
		!strings.Contains(err.Error(), `"limited" cannot be enabled on `+runtime.GOOS+": needs a thing") {
		t.Fatalf("enable: err = %v, want a CONFIGURATION_ERROR naming %s and the reason", err, runtime.GOOS)
	}
	c.why = "" // available: enabling works
	if _, err := NewRegistry([]Capability{c}, map[string]Settings{"limited": {Enabled: true}}); err != nil {
		t.Fatalf("enable available: %v", err)
	}
}

// TestShellPlatform: where the shell capability has its process-group
// guarantees (linux, darwin) it can be enabled; elsewhere NewRegistry
// refuses to enable it, naming the platform, and Execute refuses every
// call.
func TestShellPlatform(t *testing.T) {
	sh := newShell(t, ShellConfig{})
	_, err := NewRegistry([]Capability{sh}, map[string]Settings{"shell": {Enabled: true}})
	switch runtime.GOOS {
	case "linux", "darwin":
		if why := sh.unavailable(); why != "" || err != nil {
			t.Fatalf("on %s: unavailable %q, enable: %v; want both empty", runtime.GOOS, why, err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), "cannot be enabled on "+runtime.GOOS) {
		t.Fatalf("enable shell on %s: err = %v, want a refusal naming the platform", runtime.GOOS, err)
	}
	if _, err := sh.Execute(context.Background(), &Request{}); !errors.Is(err, &Error{Type: ErrEnvironment}) {
		t.Fatalf("Execute on %s: err = %v, want EnvironmentError", runtime.GOOS, err)
	}
}

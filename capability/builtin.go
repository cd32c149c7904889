package capability

import (
	"context"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// BuiltinConfig configures the built-in capabilities. The zero value is
// usable: shell then allows no binary and fs.read has no root, so both
// refuse every call (with an EnvironmentError) until configured.
type BuiltinConfig struct {
	Shell   ShellConfig
	FSRead  FSReadConfig
	HTTPGet HTTPGetConfig
}

// Builtins returns the five built-in capabilities, sorted by name: echo,
// fs.read, http.get, noop, shell. The error (CONFIGURATION_ERROR) reports
// an impossible configuration, such as an allowlisted binary that does
// not resolve to an executable file. Registering them enables nothing:
// that is Settings.Enabled.
func Builtins(cfg BuiltinConfig) ([]Capability, error) {
	sh, err := NewShell(cfg.Shell)
	if err != nil {
		return nil, err
	}
	fs, err := NewFSRead(cfg.FSRead)
	if err != nil {
		return nil, err
	}
	hg, err := NewHTTPGet(cfg.HTTPGet)
	if err != nil {
		return nil, err
	}
	return []Capability{NewEcho(), fs, hg, NewNoop(), sh}, nil
}

// Noop is the "noop" capability: no arguments, result {}. It is the probe
// that measures the runtime's own overhead, so it does nothing at all and
// does not allocate.
type Noop struct{ result []byte }

// NewNoop returns the noop capability.
func NewNoop() *Noop { return &Noop{result: []byte("{}")} }

func (*Noop) Name() string    { return "noop" }
func (*Noop) Version() string { return "1.0.0" }
func (*Noop) Description() string {
	return "Does nothing and returns {}: the probe for runtime overhead."
}
func (*Noop) Schema() []byte   { return []byte(`{"type":"object","additionalProperties":false}`) }
func (*Noop) Effects() Effects { return EffectsNone }

// Execute returns the shared, read-only result {}.
func (n *Noop) Execute(context.Context, *Request) ([]byte, error) { return n.result, nil }

// EchoMaxText is the longest text echo accepts, in characters.
const EchoMaxText = 16384

// Echo is the "echo" capability: args {"text": string} (optional, at most
// EchoMaxText characters); result {"text": …}, the same text.
type Echo struct{}

// NewEcho returns the echo capability.
func NewEcho() *Echo { return &Echo{} }

func (*Echo) Name() string        { return "echo" }
func (*Echo) Version() string     { return "1.0.0" }
func (*Echo) Description() string { return "Returns its text argument unchanged." }
func (*Echo) Schema() []byte {
	return []byte(`{"type":"object","properties":{"text":{"type":"string","maxLength":16384}},"additionalProperties":false}`)
}
func (*Echo) Effects() Effects { return EffectsNone }

// Execute returns {"text": args.text} ("" when absent).
func (*Echo) Execute(_ context.Context, req *Request) ([]byte, error) {
	text := req.Args.Get("text").Str()
	b := make([]byte, 0, len(text)+12)
	b = append(b, `{"text":`...)
	b = protocol.AppendString(b, text)
	return append(b, '}'), nil
}

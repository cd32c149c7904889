package capability

import (
	"crypto/sha256"
	"encoding/binary"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/femtoclaw/femtoclaw-go/internal/suggest"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// Registry is an immutable snapshot of the registered capabilities, their
// compiled schemas and their settings. A configuration reload builds a new
// Registry; nothing in one ever changes, so it is safe for concurrent use
// without locks and lookups never allocate.
type Registry struct {
	byName  map[string]*Entry
	entries []*Entry // sorted by name
	hash    [32]byte
}

// Name rules: dot-separated segments of ASCII letters, digits, '_' and
// '-', each starting with a letter; at most 128 bytes. Versions are
// semantic versions.
var (
	nameRE    = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z][A-Za-z0-9_-]*)*$`)
	versionRE = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)
)

const maxNameLen = 128

// NewRegistry compiles a registry snapshot. settings maps capability
// names to their configuration; a capability without settings is
// registered but disabled. The error is a *protocol.Error of category
// CONFIGURATION_ERROR for: a nil capability, an invalid name or version,
// two names equal or differing only in case, an invalid effects value, a
// schema that does not compile or does not describe an object, settings
// that are impossible, settings for a name no capability has, and a
// capability enabled on a platform it does not support (shell on Windows).
func NewRegistry(caps []Capability, settings map[string]Settings) (*Registry, error) {
	r := &Registry{byName: make(map[string]*Entry, len(caps))}
	folded := make(map[string]string, len(caps))
	for i, c := range caps {
		if c == nil {
			return nil, cfgErr("capability #" + strconv.Itoa(i) + " is nil")
		}
		name := c.Name()
		if len(name) > maxNameLen || !nameRE.MatchString(name) {
			return nil, cfgErr("invalid capability name " + strconv.Quote(name) + ": want dot-separated segments of letters, digits, '_' and '-', each starting with a letter, at most 128 bytes")
		}
		if prev, ok := folded[strings.ToLower(name)]; ok {
			if prev == name {
				return nil, cfgErr("capability " + strconv.Quote(name) + " registered twice")
			}
			return nil, cfgErr("capability names " + strconv.Quote(prev) + " and " + strconv.Quote(name) + " differ only in case")
		}
		folded[strings.ToLower(name)] = name
		if !versionRE.MatchString(c.Version()) {
			return nil, cfgErr("capability " + strconv.Quote(name) + ": version " + strconv.Quote(c.Version()) + " is not a semantic version")
		}
		if !c.Effects().Valid() {
			return nil, cfgErr("capability " + strconv.Quote(name) + ": invalid effects " + strconv.Quote(string(c.Effects())))
		}
		s, err := CompileSchema(c.Schema())
		if err != nil {
			return nil, cfgErr("capability " + strconv.Quote(name) + ": " + err.(*protocol.Error).Message)
		}
		if s.never || s.types != 0 && s.types&tObject == 0 {
			return nil, cfgErr("capability " + strconv.Quote(name) + ": the argument schema must accept an object")
		}
		st := settings[name].WithDefaults()
		if msg := st.validate(); msg != "" {
			return nil, cfgErr("capability " + strconv.Quote(name) + ": " + msg)
		}
		if u, ok := c.(platformLimited); ok && st.Enabled {
			if why := u.unavailable(); why != "" {
				return nil, cfgErr("capability " + strconv.Quote(name) + " cannot be enabled on " + runtime.GOOS + ": " + why)
			}
		}
		e := &Entry{Cap: c, Schema: s, Settings: st}
		r.byName[name] = e
		r.entries = append(r.entries, e)
	}
	for name := range settings {
		if _, ok := r.byName[name]; !ok {
			msg := "settings for unknown capability " + strconv.Quote(name)
			if near := r.nearMatch(name); near != "" {
				msg += " (did you mean " + strconv.Quote(near) + "?)"
			}
			return nil, cfgErr(msg)
		}
	}
	slices.SortFunc(r.entries, func(a, b *Entry) int { return strings.Compare(a.Cap.Name(), b.Cap.Name()) })
	r.hash = r.digest()
	return r, nil
}

// platformLimited is implemented by capabilities that exist only on some
// platforms: unavailable returns why the capability cannot be enabled on
// this one, or "" when it can.
type platformLimited interface{ unavailable() string }

// Lookup returns the entry registered under name (exact, case-sensitive
// match), enabled or not.
func (r *Registry) Lookup(name string) (*Entry, bool) {
	e, ok := r.byName[name]
	return e, ok
}

// Validate finishes protocol validation of a tool call: the tool must be
// registered (exact match) and the args must satisfy its compiled schema.
// It returns the entry, or a *protocol.Error of category PROTOCOL_ERROR
// with reason unknown_capability (the message mentions a near match, such
// as the same name in another case) or invalid_arguments. Whether the
// capability is enabled is an authorization question, not checked here.
// A message form has nothing to validate: Validate returns (nil, nil). It
// does not allocate on success.
func (r *Registry) Validate(m *protocol.Message) (*Entry, error) {
	if m.Form != protocol.FormToolCall {
		return nil, nil
	}
	e, ok := r.byName[m.Tool]
	if !ok {
		return nil, r.unknown(m.Tool)
	}
	if f := e.Schema.check(m.Args); f != nil {
		pe := f.err("args")
		pe.Capability = m.Tool
		return nil, pe
	}
	return e, nil
}

func (r *Registry) unknown(tool string) *protocol.Error {
	shown := tool
	if len(shown) > 64 {
		shown = shown[:64] + "…"
	}
	msg := "unknown capability " + strconv.Quote(shown)
	if near := r.nearMatch(tool); near != "" {
		msg += "; did you mean " + strconv.Quote(near) + "? (names are case-sensitive)"
	}
	e := protocol.NewError(protocol.CategoryProtocol, "capability", msg)
	e.Reason = protocol.ReasonUnknownCapability
	return e
}

// nearMatch returns the registered name most likely meant by name
// (suggest.Closest: case or a small edit apart), or "".
func (r *Registry) nearMatch(name string) string {
	if len(name) > maxNameLen+1 {
		return ""
	}
	names := make([]string, len(r.entries))
	for i, e := range r.entries {
		names[i] = e.Cap.Name()
	}
	return suggest.Closest(name, names)
}

// Entries returns every entry, sorted by name. The slice is the caller's;
// the entries are shared and read-only.
func (r *Registry) Entries() []*Entry { return slices.Clone(r.entries) }

// Hash is a SHA-256 digest of every entry's name, version, effects,
// schema and settings. Caches key their entries with it (an epoch), so a
// reload that changes anything here never serves a stale verdict.
func (r *Registry) Hash() [32]byte { return r.hash }

func (r *Registry) digest() [32]byte {
	h := sha256.New()
	var b []byte
	str := func(s string) {
		b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
		b = append(b, s...)
	}
	num := func(n int64) { b = binary.BigEndian.AppendUint64(b, uint64(n)) }
	b = append(b, "femtoclaw capability registry v1"...)
	for _, e := range r.entries {
		str(e.Cap.Name())
		str(e.Cap.Version())
		str(string(e.Cap.Effects()))
		str(string(e.Cap.Schema()))
		s := e.Settings
		flags := int64(0)
		if s.Enabled {
			flags |= 1
		}
		if s.RedactArgs {
			flags |= 2
		}
		num(flags)
		num(int64(s.Timeout))
		num(int64(s.MaxTimeout))
		num(int64(s.PoolSize))
		h.Write(b)
		b = b[:0]
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

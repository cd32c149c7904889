package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/internal/suggest"
	"github.com/femtoclaw/femtoclaw-go/policy"
	"github.com/femtoclaw/femtoclaw-go/protocol"
	"github.com/femtoclaw/femtoclaw-go/transport"
)

// Checking a configuration: problems() refuses the impossible and the
// unsafe, key by key, once every layer is applied (each value has
// already been checked against its key's type and enumeration as it was
// read). capabilityProblems then checks the capabilities against
// themselves and against the compiled policy: serve refuses its errors
// and logs its warnings, `femtoclaw check` lists both.

// bad is a problem with key's value.
func bad(key, format string, a ...any) problem {
	return problem{key: key, msg: fmt.Sprintf(format, a...)}
}

// problems lists what is wrong with the merged configuration, each
// naming its key (loadConfig adds where the key's value came from).
func (c *Config) problems() []problem {
	var ps []problem
	if c.DataDir == "" {
		ps = append(ps, bad("data_dir", "is empty: want a directory for the journal, keys and token"))
	}
	if v := c.Runtime.GCPercent; v < 0 || v > 10000 {
		ps = append(ps, bad("runtime.gc_percent", "want 0..10000 (0: Go's default), got %d", v))
	}
	if v := c.Telemetry.TransitionSample; !(v >= 0 && v <= 1) { // NaN too
		ps = append(ps, bad("telemetry.transition_sample", "want 0..1, got %v", v))
	}
	for _, a := range c.Listen.HTTP3 {
		ap, err := netip.ParseAddrPort(a)
		if err != nil {
			ps = append(ps, bad("listen.http3", "want IP:port such as 127.0.0.1:4433 or [::1]:4433, got %q", a))
			continue
		}
		if !ap.Addr().Unmap().IsLoopback() && !c.Listen.AllowNonLoopback {
			ps = append(ps, bad("listen.http3", "%q is not a loopback address: set listen.allow_non_loopback: true to listen beyond this host", a))
		}
	}
	if a := c.Listen.Admin; a != "" {
		loopback, err := parseHostPort(a)
		switch {
		case err != nil:
			ps = append(ps, bad("listen.admin", "want host:port such as 127.0.0.1:9464 (\"\": off), got %q: %v", a, err))
		case !loopback && !c.Listen.AllowNonLoopback:
			ps = append(ps, bad("listen.admin", "%q is not a loopback address: set listen.allow_non_loopback: true (and listen.admin_token_file) to expose the admin listener beyond this host", a))
		case !loopback && c.Listen.AdminTokenFile == "":
			ps = append(ps, bad("listen.admin", "%q is not a loopback address: set listen.admin_token_file so the admin listener requires a bearer token", a))
		}
	}
	ps = append(ps, c.rangeProblems()...)
	ps = append(ps, c.confinementProblems()...)
	for _, s := range c.Capabilities.HTTPGet.AllowedCIDRs {
		if _, err := netip.ParsePrefix(s); err != nil {
			ps = append(ps, badCIDR(s))
		}
	}
	switch {
	case c.TLS.CertFile != "" && c.TLS.KeyFile == "":
		ps = append(ps, bad("tls.cert_file", "is set but tls.key_file is not: give both (or neither, for a generated certificate)"))
	case c.TLS.CertFile == "" && c.TLS.KeyFile != "":
		ps = append(ps, bad("tls.key_file", "is set but tls.cert_file is not: give both (or neither, for a generated certificate)"))
	}
	if c.Auth.TokenPrincipal == "" {
		ps = append(ps, bad("auth.token_principal", "is empty: want the principal the generated token authenticates as"))
	} else if err := protocol.CheckAssignedPrincipal(c.Auth.TokenPrincipal); err != nil {
		ps = append(ps, bad("auth.token_principal", "%v", err))
	}
	for i, t := range c.Auth.Tokens {
		if isBearerToken(t.SHA256) {
			ps = append(ps, bad(fmt.Sprintf("auth.tokens[%d].sha256", i), "is a bearer token, not its hash: write sha256: %s (the token's SHA-256) and keep the token itself out of the configuration",
				transport.HashToken(t.SHA256)))
			continue
		}
		if b, err := hex.DecodeString(t.SHA256); err != nil || len(b) != 32 || t.Principal == "" {
			ps = append(ps, bad(fmt.Sprintf("auth.tokens[%d]", i), "want a principal and a sha256 of 64 hex digits (sha256sum of the token)"))
		} else if err := protocol.CheckAssignedPrincipal(t.Principal); err != nil {
			ps = append(ps, bad(fmt.Sprintf("auth.tokens[%d].principal", i), "%v", err))
		}
	}
	return ps
}

const (
	mib = 1 << 20
	gib = 1 << 30
)

// inRange reports key's value when it is outside lo..hi.
func inRange(ps *[]problem, key string, v, lo, hi int64) {
	if v < lo || v > hi {
		*ps = append(*ps, bad(key, "want %d..%d, got %d", lo, hi, v))
	}
}

// rangeProblems checks the numeric settings that would otherwise fail
// (or misbehave) only at runtime.
func (c *Config) rangeProblems() []problem {
	var ps []problem
	if v := c.Cache.ValidationBytes; v > 4*gib {
		ps = append(ps, bad("cache.validation_bytes", "want at most 4 GiB (%d; negative turns the cache off), got %d", int64(4*gib), v))
	}
	if v := c.Cache.DecisionBytes; v > 4*gib {
		ps = append(ps, bad("cache.decision_bytes", "want at most 4 GiB (%d; negative turns the cache off), got %d", int64(4*gib), v))
	}
	if r := c.Journal.Retention; r.MaxAge < 0 {
		ps = append(ps, bad("journal.retention.max_age", "want 0s (no age bound) or a positive duration such as 720h, got %s", formatDuration(r.MaxAge)))
	}
	if r := c.Journal.Retention; r.MaxBytes < 0 {
		ps = append(ps, bad("journal.retention.max_bytes", "want 0 (no size bound) or a positive size in bytes, got %d", r.MaxBytes))
	}
	if r := c.Journal.Retention; r.ArchiveDir != "" && c.path(r.ArchiveDir) == c.path("journal") {
		ps = append(ps, bad("journal.retention.archive_dir", "want a directory other than the journal's own (%s), or \"\" to remove segments", c.path("journal")))
	}
	if v := c.Telemetry.EventsMaxBytes; v < 0 || v > 0 && v < minEventsMaxBytes {
		ps = append(ps, bad("telemetry.events_max_bytes", "want 0 (never rotate) or at least %d, got %d", minEventsMaxBytes, v))
	}
	inRange(&ps, "telemetry.events_keep", int64(c.Telemetry.EventsKeep), 0, maxEventsKeep)
	e := c.Execution
	inRange(&ps, "execution.max_message_bytes", int64(e.MaxMessageBytes), 1, 64*mib)
	inRange(&ps, "execution.max_depth", int64(e.MaxDepth), 1, 1000)
	inRange(&ps, "execution.max_args", int64(e.MaxArgs), 1, 100_000)
	inRange(&ps, "execution.max_values", int64(e.MaxValues), 1, 10_000_000)
	inRange(&ps, "execution.max_in_flight", int64(e.MaxInFlight), 1, 10_000_000)
	if e.Idempotency.Enabled {
		inRange(&ps, "execution.idempotency.max_keys", int64(e.Idempotency.MaxKeys), 1, 100_000_000)
		inRange(&ps, "execution.idempotency.answer_bytes", e.Idempotency.AnswerBytes, -1, 64*gib)
		if d := e.Idempotency.Retention; d < time.Second || d > 90*24*time.Hour {
			ps = append(ps, bad("execution.idempotency.retention", "want from 1s to 90 days (2160h), got %s", formatDuration(d)))
		}
	}
	cc := c.Capabilities
	for _, k := range []struct {
		name string
		c    CapabilityConfig
	}{{"noop", cc.Noop}, {"echo", cc.Echo}, {"shell", cc.Shell.CapabilityConfig}, {"fs.read", cc.FSRead.CapabilityConfig}, {"http.get", cc.HTTPGet.CapabilityConfig}} {
		key := "capabilities." + k.name
		if d := k.c.Timeout; d != 0 && d < time.Millisecond {
			ps = append(ps, bad(key+".timeout", "want at least 1ms (or 0s: the default), got %s", formatDuration(d)))
		}
		if d := k.c.MaxTimeout; d != 0 && d < time.Millisecond {
			ps = append(ps, bad(key+".max_timeout", "want at least 1ms (or 0s: the default), got %s", formatDuration(d)))
		}
		if k.c.Timeout != 0 && k.c.MaxTimeout != 0 && k.c.Timeout > k.c.MaxTimeout {
			ps = append(ps, bad(key+".timeout", "want at most %s.max_timeout (%s), got %s", key, formatDuration(k.c.MaxTimeout), formatDuration(k.c.Timeout)))
		}
		inRange(&ps, key+".pool_size", int64(k.c.PoolSize), 0, 100_000)
	}
	inRange(&ps, "capabilities.fs.read.max_readers", int64(cc.FSRead.MaxReaders), 0, 100_000)
	if c.Auth.TokenFile == "" {
		ps = append(ps, bad("auth.token_file", "is empty: want a path (relative to data_dir)"))
	}
	inRange(&ps, "telemetry.queue", int64(c.Telemetry.Queue), 0, 16*mib)
	ps = append(ps, c.HTTP3.problems()...)
	if ip := c.IPC; ip.Enabled {
		if ip.Socket == "" {
			ps = append(ps, bad("ipc.socket", "is empty: want a path (relative to data_dir), or ipc.enabled: false"))
		}
		inRange(&ps, "ipc.max_frame", int64(ip.MaxFrame), 1024, 64*mib)
		inRange(&ps, "ipc.request_ring", int64(ip.RequestRing), 4096, gib)
		inRange(&ps, "ipc.response_ring", int64(ip.ResponseRing), 4096, gib)
		inRange(&ps, "ipc.max_in_flight", int64(ip.MaxInFlight), 1, 1<<20)
		inRange(&ps, "ipc.max_clients", int64(ip.MaxClients), 1, 100_000)
		if ip.Spin < 0 || ip.Spin > time.Second {
			ps = append(ps, bad("ipc.spin", "want 0s..1s, got %s", formatDuration(ip.Spin)))
		}
		for i, p := range ip.Peers {
			if (p.UID == nil) == (p.GID == nil) || p.Principal == "" {
				ps = append(ps, bad(fmt.Sprintf("ipc.peers[%d]", i), "want exactly one of uid and gid, and a principal"))
			}
		}
	}
	if v := c.Journal.SegmentSize; v != 0 && v < 4<<10 { // the journal would clamp it to 4 KiB
		ps = append(ps, bad("journal.segment_size", "want 0 (the default, 64 MiB) or at least 4096 bytes, got %d", v))
	}
	if c.Journal.Durability == "interval" && c.Journal.SyncInterval < 100*time.Microsecond {
		ps = append(ps, bad("journal.sync_interval", "want at least 100µs when journal.durability is interval, got %s", formatDuration(c.Journal.SyncInterval)))
	}
	return ps
}

// problems checks the http3 bounds: 0 takes the default; a bound too
// small to serve a real request, or too large to be a bound, is refused.
func (h HTTP3Config) problems() []problem {
	var ps []problem
	if v := h.MaxHeaderBytes; v != 0 {
		inRange(&ps, "http3.max_header_bytes", int64(v), 1024, 1*mib)
	}
	if v := h.MaxStreamsPerConnection; v != 0 {
		inRange(&ps, "http3.max_streams_per_connection", int64(v), 1, 1<<16)
	}
	if v := h.StreamMaxUnsentBytes; v != 0 {
		inRange(&ps, "http3.stream_max_unsent_bytes", v, 64<<10, 1*gib)
	}
	if d := h.RejectionWindow; d != 0 && (d < time.Second || d > 24*time.Hour) {
		ps = append(ps, bad("http3.rejection_window", "want 1s..24h, got %s", formatDuration(d)))
	}
	if v := h.RejectionMaxSources; v != 0 {
		inRange(&ps, "http3.rejection_max_sources", int64(v), 1, 1<<20)
	}
	return ps
}

// parseHostPort checks that a is host:port with a numeric port, and
// reports whether the host is loopback: a loopback IP literal or
// "localhost". An empty host (all interfaces) and any other name are not.
func parseHostPort(a string) (loopback bool, err error) {
	host, port, err := net.SplitHostPort(a)
	var ae *net.AddrError
	if errors.As(err, &ae) {
		return false, errors.New(ae.Err) // "missing port in address", without Go's "address X: "
	}
	if err != nil {
		return false, err
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return false, fmt.Errorf("port %q: want 0..65535", port)
	}
	if strings.EqualFold(host, "localhost") {
		return true, nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false, nil // a name other than localhost, or "" (all interfaces)
	}
	return ip.Unmap().IsLoopback(), nil
}

func badCIDR(s string) problem {
	return bad("capabilities.http.get.allowed_cidrs", "want CIDR prefixes such as 10.0.0.0/8, got %q", s)
}

// builtinProblems says what the built-in capabilities' constructors
// refuse in bc, each at the key that sets it. A constructor stops at its
// first problem, so each is also given every setting on its own (and
// shell every allowed binary on its own): every problem is listed, not
// only the first. Their messages ("shell: allowed binary "x": not found
// in /usr/bin:/bin") are mapped to keys by what they start with
// (capabilityKeys).
func (c *Config) builtinProblems(bc capability.BuiltinConfig) []problem {
	var ps []problem
	seen := map[string]bool{}
	try := func(name string, err error, only string) {
		if err == nil {
			return
		}
		p := c.constructorProblem(name, err)
		if k := p.key + "\x00" + p.msg; !seen[k] && strings.HasPrefix(p.msg, only) {
			seen[k] = true
			ps = append(ps, p)
		}
	}
	sh := bc.Shell
	for _, part := range []capability.ShellConfig{
		{Dir: sh.Dir},
		{MaxOutputBytes: sh.MaxOutputBytes},
		{Env: sh.Env},
		{Limits: sh.Limits, Landlock: sh.Landlock, RunAs: sh.RunAs},
	} {
		_, err := capability.NewShell(part)
		try("shell", err, "")
	}
	for _, b := range sh.AllowedBins { // found in the PATH of shell.env
		_, err := capability.NewShell(capability.ShellConfig{AllowedBins: []string{b}, Env: sh.Env})
		try("shell", err, "allowed binary")
	}
	fr := bc.FSRead
	for _, part := range []capability.FSReadConfig{{MaxReaders: fr.MaxReaders}, {MaxBytes: fr.MaxBytes}, {Root: fr.Root}} {
		_, err := capability.NewFSRead(part)
		try("fs.read", err, "")
	}
	_, err := capability.NewHTTPGet(bc.HTTPGet)
	try("http.get", err, "")
	return ps
}

// capabilityKeys maps the start of what a capability's constructor
// refuses (its message after "NAME: ") to the key under
// capabilities.NAME that sets it, and says what to write instead (when
// the message contains when).
var capabilityKeys = []struct{ name, prefix, key, fix, when string }{
	{"shell", "working directory", "dir", "want an existing directory, as an absolute path", ""},
	{"shell", "max output bytes", "max_output_bytes", "want 0 (the default) or more", ""},
	{"shell", "environment entry", "env", "write each entry as KEY=value", ""}, // the message is replaced: see constructorProblem
	{"shell", "allowed binary", "allowed_bins", "give the binary's absolute path, or a name found in the PATH of capabilities.shell.env", "not found in"},
	{"shell", "run_as", "run_as", "", ""},
	{"shell", "limit ", "limits", "want -1 (keep the runtime's own), 0 (the default) or more", ""},
	{"shell", "landlock path", "landlock", "want absolute paths", ""},
	{"fs.read", "max readers", "max_readers", "want 0 (the default) or more", ""},
	{"fs.read", "max bytes", "max_bytes", "want 0 (the default) or more", ""},
	{"fs.read", "root", "root", "want an existing directory, as an absolute path", ""},
	{"http.get", "negative timeout or max body bytes", "", "want 0 (the default) or more", ""},
	{"http.get", "invalid allowed prefix", "allowed_cidrs", "want CIDR prefixes such as 10.0.0.0/8", ""},
}

// constructorProblem is the problem of capability name's constructor
// error err, at the key concerned.
func (c *Config) constructorProblem(name string, err error) problem {
	msg := err.Error()
	var pe *protocol.Error
	if errors.As(err, &pe) {
		msg = pe.Message
	}
	msg = strings.TrimPrefix(msg, name+": ")
	key := capKey(name)
	for _, ck := range capabilityKeys {
		if ck.name != name || !strings.HasPrefix(msg, ck.prefix) {
			continue
		}
		switch sub := ck.key; {
		case ck.prefix == "environment entry": // its value may be a credential: not shown
			key += ".env"
			for i, kv := range c.Capabilities.Shell.Env {
				if strings.Contains(msg, strconv.Quote(kv)) {
					msg = fmt.Sprintf("entry %d is not KEY=value (it is not shown: it may hold a credential)", i)
					break
				}
			}
			if strings.HasPrefix(msg, "environment entry") {
				msg = "an entry is not KEY=value (it is not shown: it may hold a credential)"
			}
		case ck.prefix == "limit ": // "limit cpu_seconds is below -1"
			f, _, _ := strings.Cut(strings.TrimPrefix(msg, ck.prefix), " ")
			key += ".limits." + f
		case ck.prefix == "landlock path":
			key += ".landlock.read"
			for _, p := range c.Capabilities.Shell.Landlock.Write {
				if strings.Contains(msg, strconv.Quote(p)) {
					key = capKey(name) + ".landlock.write"
				}
			}
		case sub == "": // http.get's timeout or max_body_bytes
			key += ".max_body_bytes"
			if c.Capabilities.HTTPGet.Timeout < 0 {
				key = capKey(name) + ".timeout"
			}
		default:
			key += "." + sub
		}
		if ck.fix != "" && strings.Contains(msg, ck.when) {
			msg += ": " + ck.fix
		}
		break
	}
	return bad(key, "%s", msg)
}

// registryProblem is the problem of capability.NewRegistry's error: a
// capability's settings (`capability "noop": pool_size is negative`) at
// their key.
func registryProblem(err error) problem {
	msg := err.Error()
	var pe *protocol.Error
	if errors.As(err, &pe) {
		msg = pe.Message
	}
	rest, ok := strings.CutPrefix(msg, "capability ")
	if !ok {
		return problem{key: "capabilities", msg: msg}
	}
	q, err2 := strconv.QuotedPrefix(rest)
	if err2 != nil {
		return problem{key: "capabilities", msg: msg}
	}
	name, _ := strconv.Unquote(q)
	rest = strings.TrimPrefix(rest[len(q):], ": ")
	key := capKey(name)
	switch {
	case strings.HasPrefix(rest, "cannot be enabled"):
		key += ".enabled"
	default:
		for _, sub := range []string{"max_timeout", "timeout", "pool_size"} {
			if strings.HasPrefix(rest, sub+" ") {
				key += "." + sub
				break
			}
		}
	}
	return bad(key, "%s", rest)
}

// capabilityProblems checks that every enabled capability can work and
// that the policy allows nothing the capabilities would refuse anyway:
//
//   - errors: fs.read enabled with no root; shell enabled with an empty
//     allowed_bins (every call of either would be refused);
//   - warnings: a policy rule that allows shell a bin that
//     capabilities.shell.allowed_bins lacks (the capability refuses it,
//     so the rule does not do what it says); a rule that allows a
//     capability that is disabled, or that does not exist; an enabled
//     capability that no rule allows; http.get enabled with settings that
//     reach what its defaults refuse (httpGetReach).
//
// reg or pol may be nil (they did not build); what needs them is then
// skipped. Problems name the capability, the rule and the key.
func capabilityProblems(cfg *Config, reg *capability.Registry, pol *policy.Policy) []problem {
	var ps []problem
	add := func(p problem) { ps = append(ps, cfg.sourced(p)) }
	enabledAt := func(p problem) problem { p.at = p.key + ".enabled"; return p }
	cc := cfg.Capabilities
	if cc.FSRead.Enabled && cc.FSRead.Root == "" {
		add(enabledAt(bad("capabilities.fs.read", "enabled with no root, so every call would be refused: set capabilities.fs.read.root to the directory it may read, or disable it")))
	}
	if cc.Shell.Enabled && len(cc.Shell.AllowedBins) == 0 {
		add(enabledAt(bad("capabilities.shell", "enabled with an empty allowed_bins, so every call would be refused: list the binaries it may run in capabilities.shell.allowed_bins, or disable it")))
	}
	if hg := cc.HTTPGet; hg.Enabled {
		for _, p := range httpGetReach(hg) {
			p.warn = true
			add(p)
		}
	}
	if pol == nil || reg == nil {
		return ps
	}
	var names []string
	for _, e := range reg.Entries() {
		names = append(names, e.Cap.Name())
	}
	warn := func(p problem) {
		p.warn = true
		add(p)
	}
	rules := pol.Rules()
	for _, r := range rules {
		if r.Effect != "allow" {
			continue
		}
		for _, pat := range r.Capabilities {
			if isCapGlob(pat) {
				continue
			}
			e, ok := reg.Lookup(pat)
			switch {
			case !ok:
				warn(bad("policy.file", "rule %q allows capability %q, which does not exist%s", r.ID, pat, suggest.Hint(pat, names)))
			case !e.Settings.Enabled:
				warn(enabledAt(bad(capKey(pat), "disabled, but policy rule %q allows it: its calls are refused (set %s.enabled: true, or drop it from the rule)", r.ID, capKey(pat))))
			}
		}
	}
	for _, e := range reg.Entries() {
		name := e.Cap.Name()
		if !e.Settings.Enabled {
			continue
		}
		allowed := slices.ContainsFunc(rules, func(r policy.RuleInfo) bool {
			return r.Effect == "allow" && slices.ContainsFunc(r.Capabilities, func(p string) bool { return capMatch(p, name) })
		})
		if !allowed {
			warn(enabledAt(bad(capKey(name), "enabled, but no policy rule allows it: every call is denied")))
		}
	}
	if e, ok := reg.Lookup("shell"); ok && e.Settings.Enabled {
		spellings := shellBinSpellings(e.Cap)
		for _, r := range rules {
			if r.Effect != "allow" || !slices.ContainsFunc(r.Capabilities, func(p string) bool { return capMatch(p, "shell") }) {
				continue
			}
			for _, bin := range ruleIn(r, "bin") {
				if !spellings[bin] {
					warn(bad("capabilities.shell.allowed_bins", "lacks %q, which policy rule %q allows shell to run: the capability refuses it; add it to allowed_bins, or drop it from the rule", bin, r.ID))
				}
			}
		}
	}
	return ps
}

// metadataAddr is the cloud instance metadata address (AWS, GCP, Azure,
// and others): credentials for whoever can reach it.
var metadataAddr = netip.MustParseAddr("169.254.169.254")

// httpGetReach warns when enabled http.get settings reach what its
// defaults refuse: every address class (allow_private), an allowed
// prefix that admits every address or the cloud metadata address, and
// allowed_cidrs that allow_private makes pointless.
func httpGetReach(hg HTTPGetConfig) []problem {
	var ps []problem
	if hg.AllowPrivate {
		ps = append(ps, bad("capabilities.http.get.allow_private", "is true: calls reach loopback, private networks and the cloud metadata address %s (its credentials); prefer allowed_cidrs for the networks http.get needs", metadataAddr))
		if len(hg.AllowedCIDRs) > 0 {
			ps = append(ps, bad("capabilities.http.get.allowed_cidrs", "has no effect: allow_private admits every address already"))
		}
		return ps
	}
	for _, s := range hg.AllowedCIDRs {
		p, err := netip.ParsePrefix(s)
		switch {
		case err != nil: // refused by problems()
		case p.Bits() == 0 && p.Addr().Is4():
			ps = append(ps, bad("capabilities.http.get.allowed_cidrs", "%s admits every IPv4 address, the cloud metadata address %s included: list the networks http.get needs", s, metadataAddr))
		case p.Bits() == 0:
			ps = append(ps, bad("capabilities.http.get.allowed_cidrs", "%s admits every IPv6 address, loopback and private ones included: list the networks http.get needs", s))
		case p.Contains(metadataAddr) || p.Contains(netip.AddrFrom16(metadataAddr.As16())):
			ps = append(ps, bad("capabilities.http.get.allowed_cidrs", "%s admits the cloud metadata address %s (its credentials): list narrower networks", s, metadataAddr))
		}
	}
	return ps
}

// capKey is a capability's configuration section.
func capKey(name string) string { return "capabilities." + name }

func isCapGlob(p string) bool { return strings.ContainsAny(p, "*?") }

// capMatch reports whether a rule's capability pattern matches name. A
// capability name has no '/', '[' or '\', so path.Match's '*' and '?'
// are the policy's.
func capMatch(pattern, name string) bool {
	ok, err := path.Match(pattern, name)
	return err == nil && ok
}

// shellBinSpellings returns every "bin" value a call to the shell
// capability may carry and the policy may then see: each allowlist
// entry as written, its resolved path, and the bare name the policy is
// also shown (capability.Shell.Canonicalize).
func shellBinSpellings(c capability.Capability) map[string]bool {
	out := map[string]bool{}
	sh, ok := c.(*capability.Shell)
	if !ok {
		return out
	}
	for b := range sh.Bins() {
		out[b] = true
		args, err := protocol.ParseValue(append(protocol.AppendString([]byte(`{"bin":`), b), '}'), protocol.Limits{})
		if err != nil {
			continue
		}
		can, err := sh.Canonicalize(args)
		if err != nil {
			continue
		}
		for _, raw := range [][]byte{can.Args, can.Alt} {
			if v, err := protocol.ParseValue(raw, protocol.Limits{}); err == nil {
				if s := v.Get("bin"); s.Exists() {
					out[s.Str()] = true
				}
			}
		}
	}
	return out
}

// ruleIn returns the strings of rule r's `in` constraint on argument
// arg: the values the rule allows it to take. None when the argument is
// unconstrained or constrained otherwise (a prefix, a regex). It reads
// the compiled rule's canonical text (policy.RuleInfo.Constraints:
// `args.bin: optional, type string, in ["git" "ls"]`), whose order of
// checks is fixed.
func ruleIn(r policy.RuleInfo, arg string) []string {
	for _, c := range r.Constraints {
		rest, ok := strings.CutPrefix(c, "args."+arg+": ")
		if !ok {
			continue
		}
		rest = strings.TrimPrefix(rest, "optional, ")
		if strings.HasPrefix(rest, "type ") {
			if _, after, ok := strings.Cut(rest, ", "); ok {
				rest = after
			} else {
				return nil
			}
		}
		rest, ok = strings.CutPrefix(rest, "in [")
		if !ok {
			return nil
		}
		var vals []string
		for rest != "" && rest[0] != ']' {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil { // a number or boolean: no binary
				sp := strings.IndexAny(rest, " ]")
				if sp < 0 {
					break
				}
				rest = strings.TrimPrefix(rest[sp:], " ")
				continue
			}
			s, _ := strconv.Unquote(q)
			vals = append(vals, s)
			rest = strings.TrimPrefix(rest[len(q):], " ")
		}
		return vals
	}
	return nil
}

// checkCapabilities is capabilityProblems for serve and exec: its
// errors refuse the start (a *configError), its warnings are logged.
func checkCapabilities(log *slog.Logger, cfg *Config, reg *capability.Registry, pol *policy.Policy) error {
	ps := capabilityProblems(cfg, reg, pol)
	for _, p := range ps {
		if p.warn {
			log.Warn("configuration: "+strings.TrimPrefix(p.String(), "warning: "), "category", "CONFIGURATION_ERROR")
		}
	}
	if errs := errorsOf(ps); len(errs) > 0 {
		return &configError{errs}
	}
	return nil
}

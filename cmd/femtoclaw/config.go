package main

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/femtoclaw/femtoclaw-go/capability"
)

// defaultConfigYAML is the embedded default configuration: what
// `femtoclaw serve` runs with when no file is given. It binds loopback
// only, keeps data under ./femtoclaw-data, enables noop and echo only, and
// journals every execution durably.
//
//go:embed default.yaml
var defaultConfigYAML []byte

// Config is the whole configuration. Precedence: the embedded defaults <
// a YAML file (--config or FEMTOCLAW_CONFIG) < FEMTOCLAW_* environment
// variables < command-line flags. Unknown keys are errors.
type Config struct {
	DataDir      string             `yaml:"data_dir"`
	Runtime      RuntimeConfig      `yaml:"runtime"`
	Listen       ListenConfig       `yaml:"listen"`
	HTTP3        HTTP3Config        `yaml:"http3"`
	Execution    ExecutionConfig    `yaml:"execution"`
	Capabilities CapabilitiesConfig `yaml:"capabilities"`
	Policy       PolicyConfig       `yaml:"policy"`
	Journal      JournalConfig      `yaml:"journal"`
	Telemetry    TelemetryConfig    `yaml:"telemetry"`
	Cache        CacheConfig        `yaml:"cache"`
	Auth         AuthConfig         `yaml:"auth"`
	IPC          IPCConfig          `yaml:"ipc"`
	TLS          TLSConfig          `yaml:"tls"`
	Log          LogConfig          `yaml:"log"`
	Redaction    RedactionConfig    `yaml:"redaction"`
}

// RedactionConfig keys the digests shown for secret arguments.
type RedactionConfig struct {
	KeyFile string `yaml:"key_file"` // relative to data_dir; 32 random bytes generated on first start (0600)
}

// RuntimeConfig identifies this runtime (spec document 16 §7).
type RuntimeConfig struct {
	ID   string `yaml:"id"`
	Mode string `yaml:"mode"` // production | development
	// GCPercent is the Go garbage collector's target (GOGC) for serve:
	// the heap is small (tens of MiB), so a higher target trades a little
	// memory for less GC CPU per request. 0 keeps Go's default (100); the
	// GOGC environment variable, when set, wins.
	GCPercent int `yaml:"gc_percent"`
}

// ListenConfig says where the runtime listens. Loopback only by default.
type ListenConfig struct {
	HTTP3 []string `yaml:"http3"` // UDP addresses of the HTTP/3 data plane
	Admin string   `yaml:"admin"` // TCP address of the admin listener ("" = off)
	// AllowNonLoopback permits http3 and admin addresses that are not
	// loopback. Off by default. A non-loopback admin listener also needs
	// AdminTokenFile.
	AllowNonLoopback bool `yaml:"allow_non_loopback"`
	// AdminHosts are names, besides the admin listener's own address (and
	// localhost for a loopback one), accepted in a request's Host header:
	// the names a proxy or operators use. Any other Host is refused (421)
	// so a DNS-rebinding page cannot reach the listener. Empty by default.
	AdminHosts []string `yaml:"admin_hosts"`
	// AdminTokenFile holds the admin bearer token (relative to data_dir;
	// generated 0600 on first start when missing). When set, every admin
	// request but /healthz must carry it; `femtoclaw stats` sends it.
	// Required when listen.admin is not loopback. Empty by default: a
	// loopback admin listener asks for no token.
	AdminTokenFile string `yaml:"admin_token_file"`
	// AdminPprof serves /debug/pprof on the admin listener. Off by default:
	// profiles expose heap contents, stacks and the command line.
	AdminPprof bool `yaml:"admin_pprof"`
}

// HTTP3Config bounds what one client of the HTTP/3 data plane can make
// the server hold (transport.ServerConfig). Zero values take the
// transport's defaults, given here.
type HTTP3Config struct {
	// MaxHeaderBytes bounds one request's header section; a larger one is
	// refused (431) before it is read. Default 16384.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// MaxStreamsPerConnection bounds the request streams one connection
	// may have open at once (QUIC MAX_STREAMS). Default 1024.
	MaxStreamsPerConnection int `yaml:"max_streams_per_connection"`
	// StreamMaxUnsentBytes bounds the answer bytes a /v1/stream holds for
	// a client that does not read them; past it the server stops reading
	// the stream. Default 1048576.
	StreamMaxUnsentBytes int64 `yaml:"stream_max_unsent_bytes"`
	// RejectionWindow is the period of the aggregate journal records of
	// unauthenticated requests: one record per source per window.
	// Default 1m.
	RejectionWindow time.Duration `yaml:"rejection_window"`
	// RejectionMaxSources bounds the sources tracked per window; further
	// sources share one overflow record. Default 1024.
	RejectionMaxSources int `yaml:"rejection_max_sources"`
}

// ExecutionConfig bounds the execution cycle.
type ExecutionConfig struct {
	MaxInFlight     int `yaml:"max_in_flight"`
	MaxMessageBytes int `yaml:"max_message_bytes"`
	MaxDepth        int `yaml:"max_depth"`
	MaxArgs         int `yaml:"max_args"`
	MaxValues       int `yaml:"max_values"`
	// Idempotency bounds the key index that makes a retried call (same
	// Idempotency-Key, same call) replay its first answer.
	Idempotency IdempotencyConfig `yaml:"idempotency"`
}

// IdempotencyConfig mirrors pipeline.IdempotencyConfig.
type IdempotencyConfig struct {
	Enabled     bool          `yaml:"enabled"`
	Retention   time.Duration `yaml:"retention"`
	MaxKeys     int           `yaml:"max_keys"`
	AnswerBytes int64         `yaml:"answer_bytes"`
}

// CapabilityConfig is the part every capability has.
type CapabilityConfig struct {
	Enabled    bool          `yaml:"enabled"`
	Timeout    time.Duration `yaml:"timeout"`
	MaxTimeout time.Duration `yaml:"max_timeout"`
	PoolSize   int           `yaml:"pool_size"`
	RedactArgs bool          `yaml:"redact_args"`
}

// CapabilitiesConfig enables and configures the built-ins.
type CapabilitiesConfig struct {
	Noop    CapabilityConfig `yaml:"noop"`
	Echo    CapabilityConfig `yaml:"echo"`
	Shell   ShellConfig      `yaml:"shell"`
	FSRead  FSReadConfig     `yaml:"fs.read"`
	HTTPGet HTTPGetConfig    `yaml:"http.get"`
}

// ShellConfig configures the shell capability.
type ShellConfig struct {
	CapabilityConfig `yaml:",inline"`
	AllowedBins      []string `yaml:"allowed_bins"`
	Dir              string   `yaml:"dir"`
	Env              []string `yaml:"env"`
	MaxOutputBytes   int      `yaml:"max_output_bytes"`
	// Limits, Landlock and RunAs confine every process (Linux); see
	// capability.ShellLimits and capability.LandlockConfig.
	Limits   ShellLimitsConfig   `yaml:"limits"`
	Landlock ShellLandlockConfig `yaml:"landlock"`
	RunAs    string              `yaml:"run_as"`
}

// ShellLimitsConfig is capability.ShellLimits: 0 takes the default, -1
// keeps the runtime's own limit.
type ShellLimitsConfig struct {
	CPUSeconds        int64 `yaml:"cpu_seconds"`
	AddressSpaceBytes int64 `yaml:"address_space_bytes"`
	Processes         int64 `yaml:"processes"`
	FileSizeBytes     int64 `yaml:"file_size_bytes"`
	OpenFiles         int64 `yaml:"open_files"`
}

// ShellLandlockConfig is capability.LandlockConfig.
type ShellLandlockConfig struct {
	Disabled bool     `yaml:"disabled"`
	Read     []string `yaml:"read"`
	Write    []string `yaml:"write"`
}

// FSReadConfig configures fs.read.
type FSReadConfig struct {
	CapabilityConfig `yaml:",inline"`
	Root             string `yaml:"root"`
	MaxBytes         int64  `yaml:"max_bytes"`
	MaxReaders       int    `yaml:"max_readers"`
}

// HTTPGetConfig configures http.get.
type HTTPGetConfig struct {
	CapabilityConfig `yaml:",inline"`
	AllowPrivate     bool     `yaml:"allow_private"`
	AllowedCIDRs     []string `yaml:"allowed_cidrs"`
	MaxBodyBytes     int64    `yaml:"max_body_bytes"`
	MaxRedirects     int      `yaml:"max_redirects"`
}

// PolicyConfig points at the policy. With no file, the embedded default
// policy applies (any principal may run noop and echo; all else denied).
type PolicyConfig struct {
	File string `yaml:"file"`
}

// JournalConfig configures the journal.
type JournalConfig struct {
	Durability   string                 `yaml:"durability"` // always | interval
	SyncInterval time.Duration          `yaml:"sync_interval"`
	Codec        string                 `yaml:"codec"` // s2 | zstd | none
	SegmentSize  int64                  `yaml:"segment_size"`
	Retention    JournalRetentionConfig `yaml:"retention"`
}

// JournalRetentionConfig is journal.RetentionConfig: whole sealed
// segments, oldest first, are removed (or moved to ArchiveDir) by age or
// total size; never one holding records of the idempotency window. Both
// bounds 0 (the default): the journal keeps every record forever.
type JournalRetentionConfig struct {
	MaxAge     time.Duration `yaml:"max_age"`     // 0: no age bound
	MaxBytes   int64         `yaml:"max_bytes"`   // 0: no size bound
	ArchiveDir string        `yaml:"archive_dir"` // relative to data_dir; empty: remove
}

// TelemetryConfig configures the event stream.
type TelemetryConfig struct {
	Events           string  `yaml:"events"` // off | stdout | stderr | a file path (relative to data_dir)
	TransitionSample float64 `yaml:"transition_sample"`
	Queue            int     `yaml:"queue"`
	// EventsMaxBytes rotates the events file (a path) once it reaches this
	// size, at a line end: FILE.1 (newest) .. FILE.EventsKeep. 0 never
	// rotates. Default 64 MiB.
	EventsMaxBytes int64 `yaml:"events_max_bytes"`
	EventsKeep     int   `yaml:"events_keep"` // rotated files kept; default 5
}

// CacheConfig sizes the caches, in bytes (negative turns one off).
type CacheConfig struct {
	ValidationBytes int64 `yaml:"validation_bytes"`
	DecisionBytes   int64 `yaml:"decision_bytes"`
}

// AuthConfig configures authentication of the network transports.
type AuthConfig struct {
	TokenFile      string        `yaml:"token_file"`      // relative to data_dir; generated on first start
	TokenPrincipal string        `yaml:"token_principal"` // the principal the generated token authenticates
	Tokens         []TokenConfig `yaml:"tokens"`          // additional tokens, stored as SHA-256 only
	ClientCA       string        `yaml:"client_ca"`       // enables mTLS
	// AdminPrincipals may read every execution (system records included)
	// with GET /v1/executions/{id}; every other principal reads only its
	// own. Empty by default: nobody reads another's executions over
	// HTTP/3 (the journal stays readable on the host: femtoclaw journal).
	AdminPrincipals []string `yaml:"admin_principals"`
}

// IPCConfig configures the shared-memory ring for local processes
// (package ipc; linux only). The runtime's own uid is the principal
// auth.token_principal unless a peer entry maps it.
type IPCConfig struct {
	Enabled      bool          `yaml:"enabled"`
	Socket       string        `yaml:"socket"`        // relative to data_dir; mode 0660
	Peers        []IPCPeer     `yaml:"peers"`         // uid/gid → principal; the rest are refused
	MaxFrame     int           `yaml:"max_frame"`     // bytes, both ways
	RequestRing  int           `yaml:"request_ring"`  // bytes, a power of two
	ResponseRing int           `yaml:"response_ring"` // bytes, a power of two
	MaxInFlight  int           `yaml:"max_in_flight"` // per client
	MaxClients   int           `yaml:"max_clients"`
	Spin         time.Duration `yaml:"spin"` // poll this long before parking on the futex
}

// IPCPeer maps a local peer, by uid or by gid (exactly one), to a principal.
type IPCPeer struct {
	UID       *uint32 `yaml:"uid"`
	GID       *uint32 `yaml:"gid"`
	Principal string  `yaml:"principal"`
}

// TLSConfig names the HTTP/3 certificate. Empty: a self-signed one is
// generated in DATA_DIR/tls on first start and reused (its SPKI pin is logged).
type TLSConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// TokenConfig is one bearer token, by hash.
type TokenConfig struct {
	Principal string `yaml:"principal"`
	SHA256    string `yaml:"sha256"`
}

// LogConfig configures the runtime's own log.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // json | text
}

// loadConfig resolves the effective configuration: defaults, then the
// file (if any), then the environment, then the flag overrides (already
// parsed into sets, "key.path=value").
func loadConfig(file string, environ []string, sets []string) (*Config, error) {
	cfg := &Config{}
	if err := decodeStrict(defaultConfigYAML, cfg); err != nil {
		return nil, fmt.Errorf("embedded default configuration: %w", err)
	}
	if file == "" {
		file = lookupEnv(environ, "FEMTOCLAW_CONFIG")
	}
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("configuration file: %w", err)
		}
		if err := decodeStrict(data, cfg); err != nil {
			return nil, fmt.Errorf("configuration file %s: %w", file, err)
		}
	}
	if err := applyEnv(cfg, environ); err != nil {
		return nil, err
	}
	for _, s := range sets {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return nil, fmt.Errorf("--set %q: want key.path=value", s)
		}
		if err := setPath(cfg, k, v); err != nil {
			return nil, fmt.Errorf("--set %s: %w", k, err)
		}
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func decodeStrict(data []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

func lookupEnv(environ []string, key string) string {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// leaves walks every settable scalar or list field of cfg with its dotted
// YAML path ("journal.durability", "capabilities.fs.read.root").
func leaves(v reflect.Value, prefix string, fn func(path string, f reflect.Value)) {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := strings.Split(sf.Tag.Get("yaml"), ",")
		fv := v.Field(i)
		if len(tag) > 1 && tag[1] == "inline" {
			leaves(fv, prefix, fn)
			continue
		}
		path := tag[0]
		if prefix != "" {
			path = prefix + "." + path
		}
		if fv.Kind() == reflect.Struct {
			leaves(fv, path, fn)
			continue
		}
		if fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Struct {
			continue // lists of records (auth.tokens) come from files only
		}
		fn(path, fv)
	}
}

// envName maps a config path to its environment variable:
// capabilities.fs.read.root → FEMTOCLAW_CAPABILITIES_FS_READ_ROOT.
func envName(path string) string {
	return "FEMTOCLAW_" + strings.ToUpper(strings.NewReplacer(".", "_").Replace(path))
}

func applyEnv(cfg *Config, environ []string) error {
	var err error
	leaves(reflect.ValueOf(cfg).Elem(), "", func(path string, f reflect.Value) {
		if err != nil {
			return
		}
		name := envName(path)
		for _, kv := range environ {
			if k, v, ok := strings.Cut(kv, "="); ok && k == name {
				if e := setValue(f, v); e != nil {
					err = fmt.Errorf("environment %s: %w", name, e)
				}
			}
		}
	})
	return err
}

func setPath(cfg *Config, path, value string) error {
	found := false
	var err error
	leaves(reflect.ValueOf(cfg).Elem(), "", func(p string, f reflect.Value) {
		if p == path {
			found = true
			err = setValue(f, value)
		}
	})
	if !found {
		return errors.New("no such configuration key")
	}
	return err
}

var durationType = reflect.TypeOf(time.Duration(0))

func setValue(f reflect.Value, s string) error {
	switch {
	case f.Type() == durationType:
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		f.SetInt(int64(d))
	case f.Kind() == reflect.String:
		f.SetString(s)
	case f.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		f.SetBool(b)
	case f.Kind() == reflect.Int || f.Kind() == reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return err
		}
		f.SetInt(n)
	case f.Kind() == reflect.Float64:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return err
		}
		f.SetFloat(x)
	case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
		var parts []string
		for p := range strings.SplitSeq(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		f.Set(reflect.ValueOf(parts))
	default:
		return fmt.Errorf("unsupported type %s", f.Type())
	}
	return nil
}

func (c *Config) validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir is empty"))
	}
	if c.Runtime.GCPercent < 0 || c.Runtime.GCPercent > 10000 {
		errs = append(errs, fmt.Errorf("runtime.gc_percent %d: want 0..10000 (0: Go's default)", c.Runtime.GCPercent))
	}
	switch c.Runtime.Mode {
	case "production", "development":
	default:
		errs = append(errs, fmt.Errorf("runtime.mode %q: want production or development", c.Runtime.Mode))
	}
	switch c.Journal.Durability {
	case "always", "interval", "off":
	default:
		errs = append(errs, fmt.Errorf("journal.durability %q: want always, interval or off", c.Journal.Durability))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level %q: want debug, info, warn or error", c.Log.Level))
	}
	if c.Telemetry.TransitionSample < 0 || c.Telemetry.TransitionSample > 1 {
		errs = append(errs, fmt.Errorf("telemetry.transition_sample %v: want 0..1", c.Telemetry.TransitionSample))
	}
	for _, a := range c.Listen.HTTP3 {
		ap, err := netip.ParseAddrPort(a)
		if err != nil {
			errs = append(errs, fmt.Errorf("listen.http3 %q: %v", a, err))
			continue
		}
		if !ap.Addr().Unmap().IsLoopback() && !c.Listen.AllowNonLoopback {
			errs = append(errs, fmt.Errorf("listen.http3 %q is not a loopback address: set listen.allow_non_loopback: true to listen beyond this host", a))
		}
	}
	if a := c.Listen.Admin; a != "" {
		loopback, err := parseHostPort(a)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("listen.admin %q: want host:port: %v", a, err))
		case !loopback && !c.Listen.AllowNonLoopback:
			errs = append(errs, fmt.Errorf("listen.admin %q is not a loopback address: set listen.allow_non_loopback: true (and listen.admin_token_file) to expose the admin listener beyond this host", a))
		case !loopback && c.Listen.AdminTokenFile == "":
			errs = append(errs, fmt.Errorf("listen.admin %q is not a loopback address: set listen.admin_token_file so the admin listener requires a bearer token", a))
		}
	}
	errs = append(errs, c.validateRanges()...)
	errs = append(errs, c.validateConfinement()...)
	for _, s := range c.Capabilities.HTTPGet.AllowedCIDRs {
		if _, err := netip.ParsePrefix(s); err != nil {
			errs = append(errs, fmt.Errorf("capabilities.http.get.allowed_cidrs %q: %v", s, err))
		}
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		errs = append(errs, errors.New("tls.cert_file and tls.key_file go together"))
	}
	if c.Auth.TokenPrincipal == "" {
		errs = append(errs, errors.New("auth.token_principal is empty"))
	}
	for i, t := range c.Auth.Tokens {
		if b, err := hex.DecodeString(t.SHA256); err != nil || len(b) != 32 || t.Principal == "" {
			errs = append(errs, fmt.Errorf("auth.tokens[%d]: want principal and a 64-hex-digit sha256", i))
		}
	}
	return errors.Join(errs...)
}

const (
	mib = 1 << 20
	gib = 1 << 30
)

// inRange reports key's value when it is outside lo..hi.
func inRange(errs *[]error, key string, v, lo, hi int64) {
	if v < lo || v > hi {
		*errs = append(*errs, fmt.Errorf("%s %d: want %d..%d", key, v, lo, hi))
	}
}

// validateRanges checks the numeric and enumerated settings that would
// otherwise fail (or misbehave) only at runtime.
func (c *Config) validateRanges() []error {
	var errs []error
	if v := c.Cache.ValidationBytes; v > 4*gib {
		errs = append(errs, fmt.Errorf("cache.validation_bytes %d: want at most 4 GiB (%d); negative turns the cache off", v, int64(4*gib)))
	}
	if v := c.Cache.DecisionBytes; v > 4*gib {
		errs = append(errs, fmt.Errorf("cache.decision_bytes %d: want at most 4 GiB (%d); negative turns the cache off", v, int64(4*gib)))
	}
	e := c.Execution
	inRange(&errs, "execution.max_message_bytes", int64(e.MaxMessageBytes), 1, 64*mib)
	inRange(&errs, "execution.max_depth", int64(e.MaxDepth), 1, 1000)
	inRange(&errs, "execution.max_args", int64(e.MaxArgs), 1, 100_000)
	inRange(&errs, "execution.max_values", int64(e.MaxValues), 1, 10_000_000)
	inRange(&errs, "execution.max_in_flight", int64(e.MaxInFlight), 1, 10_000_000)
	if e.Idempotency.Enabled {
		inRange(&errs, "execution.idempotency.max_keys", int64(e.Idempotency.MaxKeys), 1, 100_000_000)
		inRange(&errs, "execution.idempotency.answer_bytes", e.Idempotency.AnswerBytes, -1, 64*gib)
		if e.Idempotency.Retention < time.Second || e.Idempotency.Retention > 90*24*time.Hour {
			errs = append(errs, fmt.Errorf("execution.idempotency.retention %s: want from 1s to 90 days", e.Idempotency.Retention))
		}
	}
	cc := c.Capabilities
	for _, k := range []struct {
		name string
		c    CapabilityConfig
	}{{"noop", cc.Noop}, {"echo", cc.Echo}, {"shell", cc.Shell.CapabilityConfig}, {"fs.read", cc.FSRead.CapabilityConfig}, {"http.get", cc.HTTPGet.CapabilityConfig}} {
		key := "capabilities." + k.name
		if d := k.c.Timeout; d != 0 && d < time.Millisecond {
			errs = append(errs, fmt.Errorf("%s.timeout %v: want at least 1ms (or unset)", key, d))
		}
		if d := k.c.MaxTimeout; d != 0 && d < time.Millisecond {
			errs = append(errs, fmt.Errorf("%s.max_timeout %v: want at least 1ms (or unset)", key, d))
		}
		if k.c.Timeout != 0 && k.c.MaxTimeout != 0 && k.c.Timeout > k.c.MaxTimeout {
			errs = append(errs, fmt.Errorf("%s.timeout %v: want at most %s.max_timeout (%v)", key, k.c.Timeout, key, k.c.MaxTimeout))
		}
		inRange(&errs, key+".pool_size", int64(k.c.PoolSize), 0, 100_000)
	}
	inRange(&errs, "capabilities.fs.read.max_readers", int64(cc.FSRead.MaxReaders), 0, 100_000)
	if c.Auth.TokenFile == "" {
		errs = append(errs, errors.New("auth.token_file is empty: want a path (relative to data_dir)"))
	}
	inRange(&errs, "telemetry.queue", int64(c.Telemetry.Queue), 0, 16*mib)
	errs = append(errs, c.HTTP3.validate()...)
	if ip := c.IPC; ip.Enabled {
		if ip.Socket == "" {
			errs = append(errs, errors.New("ipc.socket is empty: want a path (relative to data_dir)"))
		}
		inRange(&errs, "ipc.max_frame", int64(ip.MaxFrame), 1024, 64*mib)
		inRange(&errs, "ipc.request_ring", int64(ip.RequestRing), 4096, gib)
		inRange(&errs, "ipc.response_ring", int64(ip.ResponseRing), 4096, gib)
		inRange(&errs, "ipc.max_in_flight", int64(ip.MaxInFlight), 1, 1<<20)
		inRange(&errs, "ipc.max_clients", int64(ip.MaxClients), 1, 100_000)
		if ip.Spin < 0 || ip.Spin > time.Second {
			errs = append(errs, fmt.Errorf("ipc.spin %v: want 0..1s", ip.Spin))
		}
		for i, p := range ip.Peers {
			if (p.UID == nil) == (p.GID == nil) || p.Principal == "" {
				errs = append(errs, fmt.Errorf("ipc.peers[%d]: want exactly one of uid and gid, and a principal", i))
			}
		}
	}
	if c.Journal.Durability == "interval" && c.Journal.SyncInterval < 100*time.Microsecond {
		errs = append(errs, fmt.Errorf("journal.sync_interval %v: want at least 100µs when journal.durability is interval", c.Journal.SyncInterval))
	}
	switch c.Journal.Codec {
	case "s2", "zstd", "none":
	default:
		errs = append(errs, fmt.Errorf("journal.codec %q: want s2, zstd or none", c.Journal.Codec))
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		errs = append(errs, fmt.Errorf("log.format %q: want json or text", c.Log.Format))
	}
	return errs
}

// parseHostPort checks that a is host:port with a numeric port, and
// reports whether the host is loopback: a loopback IP literal or
// "localhost". An empty host (all interfaces) and any other name are not.
func parseHostPort(a string) (loopback bool, err error) {
	host, port, err := net.SplitHostPort(a)
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

// Hash is the SHA-256 of the effective configuration's canonical YAML,
// logged at start so operators can tell which configuration ran.
func (c *Config) Hash() string {
	b, _ := yaml.Marshal(c)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// path resolves p relative to the data directory.
func (c *Config) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.DataDir, p)
}

func (cc CapabilityConfig) settings() capability.Settings {
	return capability.Settings{Enabled: cc.Enabled, Timeout: cc.Timeout, MaxTimeout: cc.MaxTimeout, PoolSize: cc.PoolSize, RedactArgs: cc.RedactArgs}
}

// builtins returns the built-in capabilities and their settings.
func (c *Config) builtins() ([]capability.Capability, map[string]capability.Settings, error) {
	cc := c.Capabilities
	var cidrs []netip.Prefix
	for _, s := range cc.HTTPGet.AllowedCIDRs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, nil, err
		}
		cidrs = append(cidrs, p)
	}
	caps, err := capability.Builtins(capability.BuiltinConfig{
		Shell:   c.shellConfig(),
		FSRead:  capability.FSReadConfig{Root: cc.FSRead.Root, MaxBytes: cc.FSRead.MaxBytes, MaxReaders: cc.FSRead.MaxReaders},
		HTTPGet: capability.HTTPGetConfig{AllowPrivate: cc.HTTPGet.AllowPrivate, AllowedCIDRs: cidrs, Timeout: cc.HTTPGet.Timeout, MaxBodyBytes: cc.HTTPGet.MaxBodyBytes, MaxRedirects: cc.HTTPGet.MaxRedirects},
	})
	if err != nil {
		return nil, nil, err
	}
	settings := map[string]capability.Settings{
		"noop":     cc.Noop.settings(),
		"echo":     cc.Echo.settings(),
		"shell":    cc.Shell.settings(),
		"fs.read":  cc.FSRead.settings(),
		"http.get": cc.HTTPGet.settings(),
	}
	return caps, settings, nil
}

// validate checks the http3 bounds: 0 takes the default; a bound too
// small to serve a real request, or too large to be a bound, is refused.
func (h HTTP3Config) validate() []error {
	var errs []error
	if v := h.MaxHeaderBytes; v != 0 {
		inRange(&errs, "http3.max_header_bytes", int64(v), 1024, 1*mib)
	}
	if v := h.MaxStreamsPerConnection; v != 0 {
		inRange(&errs, "http3.max_streams_per_connection", int64(v), 1, 1<<16)
	}
	if v := h.StreamMaxUnsentBytes; v != 0 {
		inRange(&errs, "http3.stream_max_unsent_bytes", v, 64<<10, 1*gib)
	}
	if d := h.RejectionWindow; d != 0 && (d < time.Second || d > 24*time.Hour) {
		errs = append(errs, fmt.Errorf("http3.rejection_window %v: want 1s..24h", d))
	}
	if v := h.RejectionMaxSources; v != 0 {
		inRange(&errs, "http3.rejection_max_sources", int64(v), 1, 1<<20)
	}
	return errs
}

// shellConfig maps the shell section onto capability.ShellConfig.
func (c *Config) shellConfig() capability.ShellConfig {
	sh := c.Capabilities.Shell
	l := sh.Limits
	return capability.ShellConfig{AllowedBins: sh.AllowedBins, Dir: sh.Dir, Env: sh.Env, MaxOutputBytes: sh.MaxOutputBytes,
		Limits: capability.ShellLimits{CPUSeconds: l.CPUSeconds, AddressSpaceBytes: l.AddressSpaceBytes,
			Processes: l.Processes, FileSizeBytes: l.FileSizeBytes, OpenFiles: l.OpenFiles},
		Landlock: capability.LandlockConfig{Disabled: sh.Landlock.Disabled, Read: sh.Landlock.Read, Write: sh.Landlock.Write},
		RunAs:    sh.RunAs}
}

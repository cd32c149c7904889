package main

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/netip"
	"path/filepath"
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
// variables < command-line flags (--set). Unknown keys, and FEMTOCLAW_*
// variables that name no key, are errors (configload.go).
//
// The struct is the one description of the configuration's keys: the
// file decoder, the environment variables, --set, `femtoclaw config` and
// schema/config.schema.json all walk it (configkeys.go). Field tags: yaml
// names the key; enum lists the only values a string key takes (checked
// wherever it is set, with a did-you-mean); secret marks a key whose
// values are secret material, which `femtoclaw config` does not print.
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

	// origin records where each key's value came from; loadConfig fills
	// it. Not configuration (unexported: no key, not hashed).
	origin origins
}

// RedactionConfig keys the digests shown for secret arguments.
type RedactionConfig struct {
	KeyFile string `yaml:"key_file"` // relative to data_dir; 32 random bytes generated on first start (0600)
}

// RuntimeConfig identifies this runtime (spec document 16 §7).
type RuntimeConfig struct {
	ID   string `yaml:"id"`
	Mode string `yaml:"mode" enum:"production,development"`
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
	Env              []string `yaml:"env" secret:"values"` // KEY=value entries: the values may be credentials
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
	// ShadowFile is a candidate policy evaluated beside File on every call
	// and never acted on (shadow mode; see "Rolling out a policy" in the
	// README). Empty: none.
	ShadowFile string `yaml:"shadow_file"`
}

// JournalConfig configures the journal.
type JournalConfig struct {
	Durability   string                 `yaml:"durability" enum:"always,interval,off"`
	SyncInterval time.Duration          `yaml:"sync_interval"`
	Codec        string                 `yaml:"codec" enum:"s2,zstd,none"`
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
	SHA256    string `yaml:"sha256" secret:"unless-sha256"` // anything but a hash is probably the token itself
}

// LogConfig configures the runtime's own log.
type LogConfig struct {
	Level  string `yaml:"level" enum:"debug,info,warn,error"`
	Format string `yaml:"format" enum:"json,text"`
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

// builtins returns the built-in capabilities and their settings. The
// error is a *configError: what each capability refuses, at its key.
func (c *Config) builtins() ([]capability.Capability, map[string]capability.Settings, error) {
	cc := c.Capabilities
	var ps []problem
	var cidrs []netip.Prefix
	for _, s := range cc.HTTPGet.AllowedCIDRs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			ps = append(ps, badCIDR(s))
			continue
		}
		cidrs = append(cidrs, p)
	}
	bc := capability.BuiltinConfig{
		Shell:   c.shellConfig(),
		FSRead:  capability.FSReadConfig{Root: cc.FSRead.Root, MaxBytes: cc.FSRead.MaxBytes, MaxReaders: cc.FSRead.MaxReaders},
		HTTPGet: capability.HTTPGetConfig{AllowPrivate: cc.HTTPGet.AllowPrivate, AllowedCIDRs: cidrs, Timeout: cc.HTTPGet.Timeout, MaxBodyBytes: cc.HTTPGet.MaxBodyBytes, MaxRedirects: cc.HTTPGet.MaxRedirects},
	}
	var buildErr error
	if len(ps) == 0 {
		caps, err := capability.Builtins(bc)
		buildErr = err
		if err == nil {
			settings := map[string]capability.Settings{
				"noop":     cc.Noop.settings(),
				"echo":     cc.Echo.settings(),
				"shell":    cc.Shell.settings(),
				"fs.read":  cc.FSRead.settings(),
				"http.get": cc.HTTPGet.settings(),
			}
			return caps, settings, nil
		}
	}
	ps = append(ps, c.builtinProblems(bc)...)
	if len(ps) == 0 { // refused only in combination: as the capability words it
		ps = append(ps, registryProblem(buildErr))
	}
	for i := range ps {
		ps[i] = c.sourced(ps[i])
	}
	return nil, nil, &configError{ps}
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

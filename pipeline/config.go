package pipeline

import (
	"log/slog"
	"time"

	"github.com/femtoclaw/femtoclaw-go/cache"
	"github.com/femtoclaw/femtoclaw-go/journal"
	"github.com/femtoclaw/femtoclaw-go/policy"
	"github.com/femtoclaw/femtoclaw-go/protocol"
	"github.com/femtoclaw/femtoclaw-go/stats"
)

// Journal is what the commit stage needs from the journal;
// *journal.Journal implements it. A nil Journal in Config means nothing is
// persisted, and every answer says so ("journal":{"durable":false}).
type Journal interface {
	Append(r *journal.Record) (uint64, error)
	AppendAsync(r *journal.Record, done func(seq uint64, err error))
	// Sync makes everything appended so far durable; used after an intent
	// record when appends alone are not (interval mode).
	Sync() error
	Ready() bool
}

// Config configures a Runtime. The caller's struct is never modified.
type Config struct {
	// Limits bound every message (bytes, depth, args, values). Zero fields
	// take protocol's defaults.
	Limits protocol.Limits
	// MaxInFlight bounds admitted executions; past it an execution is
	// answered at once with a RUNTIME_ERROR (reason "overloaded"). If zero,
	// defaults to 10000.
	MaxInFlight int
	// PoolQueue bounds how many calls may wait for a worker of one
	// capability's pool (effects read/write) before that capability
	// answers "overloaded". If zero, defaults to 4 × the pool size.
	PoolQueue int
	// Caches sizes the validation and decision caches.
	Caches cache.Config
	// Shadow is a candidate policy evaluated beside the active one on
	// every tool call the policy decides (shadow mode, see doc.go): the
	// runtime acts on the active verdict only, and counts and journals the
	// calls where the candidate's differs. If nil, there is no candidate
	// and shadow mode costs nothing. Reload keeps the candidate;
	// ReloadShadow replaces or removes it.
	Shadow *policy.Policy
	// Journal commits every execution. If nil, nothing is persisted.
	Journal Journal
	// Durable says whether Journal's Append returns only after the record
	// is on stable storage (journal durability "always"). It sets the
	// answer's "durable" flag; it is ignored when Journal is nil.
	Durable bool
	// Idempotency bounds the index of idempotency keys that makes a
	// retried call replay its first answer (see doc.go).
	Idempotency IdempotencyConfig
	// Telemetry configures the asynchronous event sink.
	Telemetry TelemetryConfig
	// Metrics receives the runtime's histograms, counters and gauges. If
	// nil, a private registry is used (see Runtime.Metrics).
	Metrics *stats.Registry
	// DisableTelemetry turns off latency histograms and telemetry events
	// (counters stay on). It exists to measure what they cost; production
	// runtimes keep them.
	DisableTelemetry bool
	// Logger receives the runtime's own log records. If nil, slog.Default().
	Logger *slog.Logger
	// RedactionKey keys the digests that stand for secret arguments
	// wherever they would be stored or shown (redact_secrets.go). If
	// empty, a random key is drawn at Open: digests then compare within
	// one run only.
	RedactionKey []byte
	// Now is the wall clock. If nil, time.Now. Tests inject their own.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	c.Limits = c.Limits.WithDefaults()
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 10000
	}
	if c.Metrics == nil {
		c.Metrics = stats.NewRegistry()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Telemetry.Queue <= 0 {
		c.Telemetry.Queue = 1 << 14
	}
	return c
}

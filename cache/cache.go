package cache

import (
	"hash/maphash"
	"sync/atomic"

	"github.com/dgraph-io/ristretto/v2"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// Config sizes the caches. The caller's struct is never modified.
type Config struct {
	// ValidationBytes bounds the validation cache. If zero, defaults to
	// 32 MiB; negative turns the cache off.
	ValidationBytes int64
	// DecisionBytes bounds the decision cache. If zero, defaults to 16 MiB;
	// negative turns the cache off.
	DecisionBytes int64
	// MaxInputBytes: messages larger than this are never cached (they
	// would evict many small ones for a single probable miss). If zero,
	// defaults to 4 KiB.
	MaxInputBytes int
}

// Defaults.
const (
	DefaultValidationBytes = 32 << 20
	DefaultDecisionBytes   = 16 << 20
	DefaultMaxInputBytes   = 4 << 10

	entryOverhead = 256 // bytes charged per entry on top of its input
)

func (c Config) withDefaults() Config {
	if c.ValidationBytes == 0 {
		c.ValidationBytes = DefaultValidationBytes
	}
	if c.DecisionBytes == 0 {
		c.DecisionBytes = DefaultDecisionBytes
	}
	if c.MaxInputBytes <= 0 {
		c.MaxInputBytes = DefaultMaxInputBytes
	}
	return c
}

func newRistretto[V any](maxCost int64) (*ristretto.Cache[uint64, V], error) {
	if maxCost <= 0 {
		return nil, nil
	}
	// Ristretto wants ~10 counters per item it will hold; a typical entry
	// costs about 1 KiB (a ~300-byte message, its decoded tree, overhead).
	items := maxCost / 1024
	return ristretto.NewCache(&ristretto.Config[uint64, V]{
		NumCounters:        max(items*10, 1024),
		MaxCost:            maxCost,
		BufferItems:        64,
		IgnoreInternalCost: true,
	})
}

// mix folds an epoch and field hashes into one key.
func mix(h, v uint64) uint64 {
	h ^= v + 0x9e3779b97f4a7c15 + (h << 6) + (h >> 2)
	return h
}

// doorkeeper admits a key to a cache only on its second sighting, so
// streams of unique inputs (most agent traffic) cost a miss and one atomic
// store, not a ristretto Set each. It is a direct-mapped table of recent
// key hashes; a collision only delays an admission.
type doorkeeper struct {
	slots []atomic.Uint64
	mask  uint64
}

const doorSlots = 1 << 15

func newDoorkeeper() *doorkeeper {
	return &doorkeeper{slots: make([]atomic.Uint64, doorSlots), mask: doorSlots - 1}
}

// seen reports whether h was seen recently, recording it if not.
func (d *doorkeeper) seen(h uint64) bool {
	s := &d.slots[h&d.mask]
	if s.Load() == h {
		return true
	}
	s.Store(h)
	return false
}

// Validation caches validation outcomes keyed by (epoch, message bytes).
type Validation struct {
	c        *ristretto.Cache[uint64, *validationEntry]
	door     *doorkeeper
	seed     maphash.Seed
	maxInput int
}

type validationEntry struct {
	epoch uint64
	input string
	msg   *protocol.Message
	entry any // the caller's resolved capability entry, opaque here
	err   error
}

// Decisions caches authorization decisions keyed by (epoch, principal,
// capability, argument bytes).
type Decisions struct {
	c        *ristretto.Cache[uint64, *decisionEntry]
	door     *doorkeeper
	seed     maphash.Seed
	maxInput int
}

type decisionEntry struct {
	epoch                 uint64
	principal, tool, args string
	d                     protocol.Verdict
	shadow                *protocol.Verdict // a candidate policy's verdict (PutPair); nil for Put
}

// Caches bundles both caches.
type Caches struct {
	Validation *Validation
	Decisions  *Decisions
}

// New builds both caches from cfg.
func New(cfg Config) (*Caches, error) {
	cfg = cfg.withDefaults()
	seed := maphash.MakeSeed()
	vc, err := newRistretto[*validationEntry](cfg.ValidationBytes)
	if err != nil {
		return nil, err
	}
	dc, err := newRistretto[*decisionEntry](cfg.DecisionBytes)
	if err != nil {
		if vc != nil {
			vc.Close()
		}
		return nil, err
	}
	return &Caches{
		Validation: &Validation{c: vc, door: newDoorkeeper(), seed: seed, maxInput: cfg.MaxInputBytes},
		Decisions:  &Decisions{c: dc, door: newDoorkeeper(), seed: seed, maxInput: cfg.MaxInputBytes},
	}, nil
}

// Close stops the caches' goroutines. Safe to call more than once is not
// promised by ristretto; the owner calls it once.
func (c *Caches) Close() {
	if c.Validation.c != nil {
		c.Validation.c.Close()
	}
	if c.Decisions.c != nil {
		c.Decisions.c.Close()
	}
}

// Wait blocks until buffered sets are applied.
func (c *Caches) Wait() {
	if c.Validation.c != nil {
		c.Validation.c.Wait()
	}
	if c.Decisions.c != nil {
		c.Decisions.c.Wait()
	}
}

func (v *Validation) key(epoch uint64, input []byte) uint64 {
	return mix(epoch, maphash.Bytes(v.seed, input))
}

// Get returns the cached outcome for input under epoch: the message and
// the caller's entry on success, or the rejection. ok is false on a miss.
func (v *Validation) Get(epoch uint64, input []byte) (msg *protocol.Message, entry any, err error, ok bool) {
	if v == nil || v.c == nil || len(input) > v.maxInput {
		return nil, nil, nil, false
	}
	e, found := v.c.Get(v.key(epoch, input))
	if !found || e.epoch != epoch || e.input != string(input) {
		return nil, nil, nil, false
	}
	return e.msg, e.entry, e.err, true
}

// Put records the outcome of validating input under epoch. msg must be
// immutable from now on.
func (v *Validation) Put(epoch uint64, input []byte, msg *protocol.Message, entry any, err error) {
	if v == nil || v.c == nil || len(input) > v.maxInput {
		return
	}
	key := v.key(epoch, input)
	if !v.door.seen(key) {
		return // first sighting: cache it only if it comes again
	}
	e := &validationEntry{epoch: epoch, msg: msg, entry: entry, err: err}
	cost := int64(len(input)) + entryOverhead
	if msg != nil {
		e.input = msg.Raw() // shares the message's own copy
		cost = int64(msg.Footprint()) + entryOverhead
	} else {
		e.input = string(input)
	}
	v.c.Set(key, e, cost)
}

func (d *Decisions) key(epoch uint64, principal, tool, args string) uint64 {
	h := mix(epoch, maphash.String(d.seed, principal))
	h = mix(h, maphash.String(d.seed, tool))
	return mix(h, maphash.String(d.seed, args))
}

// Get returns the cached decision for (principal, tool, args) under epoch.
func (d *Decisions) Get(epoch uint64, principal, tool, args string) (protocol.Verdict, bool) {
	if d == nil || d.c == nil || len(args) > d.maxInput {
		return protocol.Verdict{}, false
	}
	e, found := d.c.Get(d.key(epoch, principal, tool, args))
	if !found || e.epoch != epoch || e.shadow != nil || e.principal != principal || e.tool != tool || e.args != args {
		return protocol.Verdict{}, false
	}
	return e.d, true
}

// Put records a decision. The strings are kept as given (args typically
// aliases the decoded message, which stays alive with the entry).
func (d *Decisions) Put(epoch uint64, principal, tool, args string, dec protocol.Verdict) {
	if d == nil || d.c == nil || len(args) > d.maxInput {
		return
	}
	key := d.key(epoch, principal, tool, args)
	if !d.door.seen(key) {
		return // first sighting: cache it only if it comes again
	}
	e := &decisionEntry{epoch: epoch, principal: principal, tool: tool, args: args, d: dec}
	d.c.Set(key, e, int64(len(principal)+len(tool)+len(args)+len(dec.Reason))+entryOverhead)
}

// GetPair returns the cached pair of decisions for (principal, tool,
// args) under epoch: the active policy's and a shadow candidate's, as
// PutPair stored them. The caller's epoch covers both policies (a reload
// of either is a new epoch); an entry stored by Put never answers it.
func (d *Decisions) GetPair(epoch uint64, principal, tool, args string) (active, shadow protocol.Verdict, ok bool) {
	if d == nil || d.c == nil || len(args) > d.maxInput {
		return protocol.Verdict{}, protocol.Verdict{}, false
	}
	e, found := d.c.Get(d.key(epoch, principal, tool, args))
	if !found || e.shadow == nil || e.epoch != epoch || e.principal != principal || e.tool != tool || e.args != args {
		return protocol.Verdict{}, protocol.Verdict{}, false
	}
	return e.d, *e.shadow, true
}

// PutPair records the active policy's decision and a shadow candidate's
// in one entry, so a call in shadow mode costs one lookup, like any other.
func (d *Decisions) PutPair(epoch uint64, principal, tool, args string, active, shadow protocol.Verdict) {
	if d == nil || d.c == nil || len(args) > d.maxInput {
		return
	}
	key := d.key(epoch, principal, tool, args)
	if !d.door.seen(key) {
		return // first sighting: cache it only if it comes again
	}
	e := &decisionEntry{epoch: epoch, principal: principal, tool: tool, args: args, d: active, shadow: new(protocol.Verdict)}
	*e.shadow = shadow // not &shadow: that would move the argument to the heap on every call, cached or not
	d.c.Set(key, e, int64(len(principal)+len(tool)+len(args)+len(active.Reason)+len(shadow.Reason))+entryOverhead)
}

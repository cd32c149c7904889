package pipeline

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// Defaults of RejectionLogConfig.
const (
	DefaultRejectionWindow     = time.Minute
	DefaultRejectionMaxSources = 1024
)

// RejectionOverflowSource is the source of the aggregate record that
// counts rejections from sources beyond RejectionLogConfig.MaxSources in
// one window.
const RejectionOverflowSource = "overflow"

// RejectionLogConfig configures a RejectionLog. The caller's struct is
// never modified.
type RejectionLogConfig struct {
	// Window is the aggregation period: each source gets at most one
	// record per window, journaled when the window ends (and on Close).
	// If zero, defaults to one minute.
	Window time.Duration
	// MaxSources bounds the distinct sources tracked in one window;
	// rejections from further sources are counted in a single record
	// whose source is RejectionOverflowSource. If zero, defaults to 1024.
	MaxSources int
	// Now is the clock that places rejections in windows. If nil, the
	// runtime's clock (Config.Now).
	Now func() time.Time

	// noFlusher (tests only): start no background goroutine; windows end
	// only when Flush or a later rejection finds them over.
	noFlusher bool
}

func (c RejectionLogConfig) withDefaults(rt *Runtime) RejectionLogConfig {
	if c.Window <= 0 {
		c.Window = DefaultRejectionWindow
	}
	if c.MaxSources <= 0 {
		c.MaxSources = DefaultRejectionMaxSources
	}
	if c.Now == nil {
		c.Now = rt.cfg.Now
	}
	return c
}

// RejectionLog journals requests that a transport refused before they
// reached the pipeline (missing or bad credentials) as rate-limited
// aggregate records: one rejection record per source per window, with
// the source, the count, the first and last time and the count of each
// reason. Nothing is dropped silently (a source past MaxSources is
// counted in the overflow record) and an unauthenticated flood costs at
// most MaxSources+1 records per window, however fast it is.
//
// A source is the client's IP address; IPv6 clients are grouped by /64,
// the block one subscriber usually holds, so hopping addresses within it
// does not make new sources. The runtime's log gets one line per
// aggregate when it opens (so a crash before the window ends still leaves
// a trace), not one per request.
//
// Each window's aggregate gets its execution id when its first rejection
// arrives: every 401 of that source and window names it (execution_id),
// and a lookup finds the aggregate once it is journaled. The error id of
// each answer is fresh.
//
// RejectionLog is safe for concurrent use. Lifecycle: Runtime.NewRejectionLog
// starts one goroutine that ends windows on time; the owner must call
// Close, before the runtime shuts down, to journal the open window and
// stop it.
type RejectionLog struct {
	rt  *Runtime
	cfg RejectionLogConfig

	mu struct {
		sync.Mutex
		start    time.Time // of the open window; zero: none open
		sources  map[string]*rejectionAgg
		overflow *rejectionAgg
		closed   bool
	}
	stop chan struct{}
	done chan struct{}
}

// rejectionAgg is one source's rejections in one window.
type rejectionAgg struct {
	id          string
	source      string
	transport   string
	count       uint64
	first, last time.Time
	reasons     map[protocol.Reason]uint64
}

// NewRejectionLog returns a RejectionLog that journals into rt.
func (rt *Runtime) NewRejectionLog(cfg RejectionLogConfig) *RejectionLog {
	l := &RejectionLog{rt: rt, cfg: cfg.withDefaults(rt), stop: make(chan struct{}), done: make(chan struct{})}
	l.mu.sources = map[string]*rejectionAgg{}
	if l.cfg.noFlusher {
		close(l.done)
		return l
	}
	go l.flusher()
	return l
}

func (l *RejectionLog) flusher() {
	defer close(l.done)
	t := time.NewTicker(l.cfg.Window / 4)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.Flush(false)
		}
	}
}

// rejectionSource is the aggregation key of a remote address: the IP
// (IPv4, or IPv6 /64), or the address as given when it does not parse.
func rejectionSource(remote string) string {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		a, err2 := netip.ParseAddr(remote)
		if err2 != nil {
			return remote
		}
		ap = netip.AddrPortFrom(a, 0)
	}
	a := ap.Addr().Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// RecordSecurityRejection counts one refused request and returns the
// answer the transport should send (state ERROR, SECURITY_ERROR, the
// window's execution id, "durable":false). It journals nothing itself:
// the window's record is committed when the window ends. It implements
// transport.SecurityRecorder.
func (l *RejectionLog) RecordSecurityRejection(reason protocol.Reason, remote, transport string) *protocol.Answer {
	now := l.cfg.Now()
	src := rejectionSource(remote)
	var due map[string]*rejectionAgg
	var dueOverflow *rejectionAgg
	l.mu.Lock()
	if !l.mu.start.IsZero() && now.Sub(l.mu.start) >= l.cfg.Window {
		due, dueOverflow = l.takeLocked()
	}
	if l.mu.start.IsZero() {
		l.mu.start = now
	}
	a := l.mu.sources[src]
	opened := false // the first rejection of this aggregate
	if a == nil {
		if len(l.mu.sources) < l.cfg.MaxSources {
			a = l.newAgg(src, transport, now)
			l.mu.sources[src] = a
			opened = true
		} else {
			if l.mu.overflow == nil {
				l.mu.overflow = l.newAgg(RejectionOverflowSource, transport, now)
				opened = true
			}
			a = l.mu.overflow
		}
	}
	a.count++
	a.last = now
	a.reasons[reason]++
	id := a.id
	closed := l.mu.closed
	l.mu.Unlock()
	if opened { // one log line per aggregate, not per request
		l.rt.log.Warn("unauthenticated requests rejected; counting them for one journal record per source and window",
			"category", string(protocol.CategorySecurity), "source", a.source, "first_remote", remote, "reason", string(reason),
			"execution_id", id, "window", l.cfg.Window.String())
	}
	if due != nil || dueOverflow != nil {
		l.journal(due, dueOverflow)
	}
	if closed { // after Close: journal at once rather than lose it
		l.Flush(true)
	}
	errID := "err-" + l.rt.ids.next()[len("exec-"):]
	return &protocol.Answer{
		ExecutionID: id, State: protocol.StateError, Status: protocol.StatusError,
		Error: &protocol.Error{ID: errID, ExecutionID: id, Category: protocol.CategorySecurity, Severity: protocol.SeverityError,
			Subsystem: "authentication", Reason: reason, Origin: protocol.StateInputReceived, Timestamp: now,
			Message: "unauthenticated request from " + remote + ": " + string(reason)},
	}
}

func (l *RejectionLog) newAgg(src, transport string, now time.Time) *rejectionAgg {
	return &rejectionAgg{id: l.rt.ids.next(), source: src, transport: transport, first: now, reasons: map[protocol.Reason]uint64{}}
}

// takeLocked ends the open window and returns its aggregates.
func (l *RejectionLog) takeLocked() (map[string]*rejectionAgg, *rejectionAgg) {
	s, o := l.mu.sources, l.mu.overflow
	l.mu.sources, l.mu.overflow, l.mu.start = map[string]*rejectionAgg{}, nil, time.Time{}
	return s, o
}

// Flush journals the open window if it is over, or at once when all is
// true (Close uses it).
func (l *RejectionLog) Flush(all bool) {
	l.mu.Lock()
	if l.mu.start.IsZero() || !all && l.cfg.Now().Sub(l.mu.start) < l.cfg.Window {
		l.mu.Unlock()
		return
	}
	s, o := l.takeLocked()
	l.mu.Unlock()
	l.journal(s, o)
}

// Close journals the open window and stops the background goroutine.
// Rejections recorded after Close are journaled one window each, at once.
func (l *RejectionLog) Close() error {
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		return nil
	}
	l.mu.closed = true
	l.mu.Unlock()
	if !l.cfg.noFlusher {
		close(l.stop)
	}
	<-l.done
	l.Flush(true)
	return nil
}

// journal commits one record per aggregate, sorted by source so the
// journal's order does not depend on map iteration.
func (l *RejectionLog) journal(sources map[string]*rejectionAgg, overflow *rejectionAgg) {
	aggs := make([]*rejectionAgg, 0, len(sources)+1)
	for _, a := range sources {
		aggs = append(aggs, a)
	}
	sort.Slice(aggs, func(i, j int) bool { return aggs[i].source < aggs[j].source })
	if overflow != nil {
		aggs = append(aggs, overflow)
	}
	for _, a := range aggs {
		l.rt.recordRejectionAggregate(a, l.cfg.Window)
	}
}

// rejectionEvidence is the JSON journaled as the aggregate record's args.
type rejectionEvidence struct {
	Source    string            `json:"source"`
	Transport string            `json:"transport"`
	Count     uint64            `json:"count"`
	First     time.Time         `json:"first"`
	Last      time.Time         `json:"last"`
	WindowS   float64           `json:"window_s"`
	Reasons   map[string]uint64 `json:"reasons"`
}

// recordRejectionAggregate journals one aggregate as a rejection record
// (principal "", kind rejection, the evidence as its args) under the
// aggregate's execution id, asynchronously, and counts its rejections as
// SECURITY_ERROR errors.
func (rt *Runtime) recordRejectionAggregate(a *rejectionAgg, window time.Duration) {
	ev := rejectionEvidence{Source: a.source, Transport: a.transport, Count: a.count, First: a.first.UTC(), Last: a.last.UTC(),
		WindowS: window.Seconds(), Reasons: map[string]uint64{}}
	top, topN := protocol.Reason(""), uint64(0)
	for r, n := range a.reasons {
		ev.Reasons[string(r)] = n
		if n > topN || n == topN && r < top {
			top, topN = r, n
		}
	}
	evidence, _ := json.Marshal(ev)
	msg := fmt.Sprintf("%d unauthenticated requests from %s between %s and %s (most: %s)", a.count, a.source,
		ev.First.Format(time.RFC3339Nano), ev.Last.Format(time.RFC3339Nano), top)
	if !rt.recordRejection(a.id, top, msg, a.transport, evidence) {
		rt.log.Warn("unauthenticated requests not journaled: the runtime is shutting down",
			"category", string(protocol.CategorySecurity), "source", a.source, "count", a.count, "reasons", ev.Reasons)
		return
	}
	if a.count > 1 {
		rt.m.errors[protocol.CategorySecurity].Add(a.count - 1)
	}
}

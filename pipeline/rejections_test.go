package pipeline

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/femtoclaw/femtoclaw-go/journal"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeNow) now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeNow) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type evidence struct {
	Source    string            `json:"source"`
	Transport string            `json:"transport"`
	Count     uint64            `json:"count"`
	First     time.Time         `json:"first"`
	Last      time.Time         `json:"last"`
	Reasons   map[string]uint64 `json:"reasons"`
}

// aggregates returns the rejection aggregates journaled so far, by source.
func aggregates(t *testing.T, e *env) (map[string][]evidence, []journal.Record) {
	t.Helper()
	out := map[string][]evidence{}
	var recs []journal.Record
	for _, r := range e.j.records() {
		if r.Kind != journal.KindRejection || r.Principal != "" {
			continue
		}
		var ev evidence
		if err := json.Unmarshal(r.Args, &ev); err != nil {
			t.Fatalf("aggregate args %q: %v", r.Args, err)
		}
		out[ev.Source] = append(out[ev.Source], ev)
		recs = append(recs, r)
	}
	return out, recs
}

// TestSecurityResourcesRejectionAggregates: a flood of rejected
// unauthenticated requests becomes one record per source per window with
// exact counts; sources past the bound share one overflow record; the
// open window is journaled on Close.
func TestSecurityResourcesRejectionAggregates(t *testing.T) {
	caps, settings := basicCaps()
	e := newEnv(t, caps, settings, nil)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clk := &fakeNow{t: t0}
	l := e.rt.NewRejectionLog(RejectionLogConfig{Window: time.Minute, MaxSources: 3, Now: clk.now, noFlusher: true})

	// Window 1: 10,000 bad tokens from 198.51.100.7 (many ports), 5
	// missing credentials from 192.0.2.1, IPv6 hopping within one /64,
	// then two sources past the bound.
	ids := map[string]string{}
	for i := range 10_000 {
		a := l.RecordSecurityRejection(protocol.ReasonInvalidToken, fmt.Sprintf("198.51.100.7:%d", 1024+i%60000), "http3")
		if a.Error == nil || a.Error.Category != protocol.CategorySecurity || a.State != protocol.StateError || a.Journal.Durable {
			t.Fatalf("answer %+v", a)
		}
		if prev := ids["198.51.100.7"]; prev != "" && prev != a.ExecutionID {
			t.Fatalf("one source, one window, two ids: %s %s", prev, a.ExecutionID)
		}
		ids["198.51.100.7"] = a.ExecutionID
		clk.advance(time.Millisecond / 1000)
	}
	for range 5 {
		l.RecordSecurityRejection(protocol.ReasonMissingCredentials, "192.0.2.1:5000", "http3")
	}
	for i := range 7 {
		l.RecordSecurityRejection(protocol.ReasonMalformedAuthorization, fmt.Sprintf("[2001:db8:1:2::%x]:443", i+1), "http3")
		l.RecordSecurityRejection(protocol.ReasonMalformedAuthorization, fmt.Sprintf("[2001:db8:1:2:%x::1%%eth0]:443", i+1), "http3")
	}
	l.RecordSecurityRejection(protocol.ReasonInvalidToken, "203.0.113.9:1", "http3")
	l.RecordSecurityRejection(protocol.ReasonMissingCredentials, "[2001:db8:ffff::1]:1", "http3")
	if _, recs := aggregates(t, e); len(recs) != 0 {
		t.Fatalf("journaled before the window ended: %d records", len(recs))
	}
	// Window 2 begins: the next rejection ends window 1.
	clk.advance(time.Minute)
	l.RecordSecurityRejection(protocol.ReasonInvalidToken, "198.51.100.7:9", "http3")
	got, recs := aggregates(t, e)
	if len(recs) != 4 {
		t.Fatalf("window 1: %d records, want 4 (3 sources and the overflow): %v", len(recs), got)
	}
	want := map[string]struct {
		count   uint64
		reasons map[string]uint64
	}{
		"198.51.100.7":          {10_000, map[string]uint64{"invalid_token": 10_000}},
		"192.0.2.1":             {5, map[string]uint64{"missing_credentials": 5}},
		"2001:db8:1:2::/64":     {14, map[string]uint64{"malformed_authorization": 14}},
		RejectionOverflowSource: {2, map[string]uint64{"invalid_token": 1, "missing_credentials": 1}},
	}
	for src, w := range want {
		evs := got[src]
		if len(evs) != 1 || evs[0].Count != w.count || fmt.Sprint(evs[0].Reasons) != fmt.Sprint(w.reasons) || evs[0].Transport != "http3" {
			t.Errorf("source %s: %+v, want count %d reasons %v", src, evs, w.count, w.reasons)
		}
	}
	if ev := got["198.51.100.7"][0]; !ev.First.Equal(t0) || !ev.Last.After(ev.First) || ev.Last.Sub(t0) >= time.Minute {
		t.Errorf("first/last %v %v", ev.First, ev.Last)
	}
	for _, r := range recs {
		var ev evidence
		json.Unmarshal(r.Args, &ev)
		if ev.Source == "198.51.100.7" && r.ExecutionID != ids["198.51.100.7"] {
			t.Errorf("the record's id %s is not the one the 401s named (%s)", r.ExecutionID, ids["198.51.100.7"])
		}
		var e protocol.Error
		if err := json.Unmarshal(r.Error, &e); err != nil || e.Category != protocol.CategorySecurity || r.State != string(protocol.StateError) {
			t.Errorf("record error %s: %v", r.Error, err)
		}
	}
	// Window 2's record is journaled on Close; nothing else.
	l.Close()
	got, recs = aggregates(t, e)
	if len(recs) != 5 || len(got["198.51.100.7"]) != 2 || got["198.51.100.7"][1].Count != 1 {
		t.Fatalf("after Close: %d records %v", len(recs), got)
	}
	if id := l.RecordSecurityRejection(protocol.ReasonInvalidToken, "198.51.100.7:9", "http3").ExecutionID; id == ids["198.51.100.7"] {
		t.Fatal("a new window reused an id")
	}
	if _, recs = aggregates(t, e); len(recs) != 6 {
		t.Fatalf("a rejection after Close was not journaled at once: %d records", len(recs))
	}
	// Every rejection is counted as a SECURITY_ERROR.
	if n := e.rt.m.errors[protocol.CategorySecurity].Load(); n != 10_000+5+14+2+1+1 {
		t.Fatalf("security errors counted: %d", n)
	}
}

// TestSecurityResourcesRejectionWindowsOnTime: the background flusher
// ends a window without further traffic.
func TestSecurityResourcesRejectionWindowsOnTime(t *testing.T) {
	caps, settings := basicCaps()
	e := newEnv(t, caps, settings, nil)
	clk := &fakeNow{t: time.Unix(1_800_000_000, 0)}
	l := e.rt.NewRejectionLog(RejectionLogConfig{Window: time.Minute, Now: clk.now, noFlusher: true})
	defer l.Close()
	l.RecordSecurityRejection(protocol.ReasonInvalidToken, "192.0.2.1:1", "http3")
	l.Flush(false) // what the flusher does each Window/4
	if _, recs := aggregates(t, e); len(recs) != 0 {
		t.Fatal("flushed before the window ended")
	}
	clk.advance(time.Minute)
	l.Flush(false)
	if _, recs := aggregates(t, e); len(recs) != 1 {
		t.Fatalf("%d records after the window ended", len(recs))
	}
}

// TestSecurityResourcesRejectionFlusher runs the background flusher in a
// synctest bubble: its clock is the bubble's, so a window ends when the
// bubble's time passes it.
func TestSecurityResourcesRejectionFlusher(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		caps, settings := basicCaps()
		e := newEnv(t, caps, settings, nil)
		l := e.rt.NewRejectionLog(RejectionLogConfig{Window: time.Minute, Now: time.Now})
		l.RecordSecurityRejection(protocol.ReasonInvalidToken, "192.0.2.1:1", "http3")
		time.Sleep(59 * time.Second) // bubble time
		synctest.Wait()
		if _, recs := aggregates(t, e); len(recs) != 0 {
			t.Fatal("flushed before the window ended")
		}
		time.Sleep(16 * time.Second) // past the window and one flusher tick
		synctest.Wait()
		if _, recs := aggregates(t, e); len(recs) != 1 {
			t.Fatalf("%d records after the window ended", len(recs))
		}
		l.Close()
	})
}

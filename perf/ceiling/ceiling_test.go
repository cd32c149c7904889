package ceiling

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw-go/internal/runfile"
	"github.com/femtoclaw/femtoclaw-go/journal"
	"github.com/femtoclaw/femtoclaw-go/perf"
	"github.com/femtoclaw/femtoclaw-go/protocol"
	"github.com/femtoclaw/femtoclaw-go/stats"
	"github.com/femtoclaw/femtoclaw-go/transport"
)

// long is a duration no smoke run reaches: MaxOps ends them.
const long = 10 * time.Minute

func TestNoopAnswer(t *testing.T) {
	a, err := protocol.ParseAnswer(NoopAnswer)
	if err != nil || a.Status != protocol.StatusSuccess {
		t.Fatalf("NoopAnswer: %v, status %q", err, a.Status)
	}
	if got := AppendNoopAnswer(nil, 2); string(got) != strings.Replace(string(NoopAnswer), "708fcf7ab867", "000000000002", 1) {
		t.Fatalf("answer 2:\n%s\nNoopAnswer:\n%s", got, NoopAnswer)
	}
	checkNumbered(t, AppendNoopAnswer(nil, 0xabc123), 0xabc123)
}

// checkNumbered checks that b is a successful noop answer numbered n.
func checkNumbered(t *testing.T, b []byte, n uint64) {
	t.Helper()
	a, err := protocol.ParseAnswer(b)
	if err != nil || a.Status != protocol.StatusSuccess || !strings.HasSuffix(a.ExecutionID, fmt.Sprintf("-%012x", n)) || len(b) != len(NoopAnswer)+len(fmt.Sprint(n))-1 {
		t.Fatalf("answer %d: %v %s", n, err, b)
	}
	if !bytes.Contains(b, []byte(fmt.Sprintf(`"journal":{"seq":%d,`, n))) {
		t.Fatalf("answer %d has another sequence: %s", n, b)
	}
}

// The echo as fcload finds it: run.json names its URL and pin, the token
// file its token; /v1/execute and /v1/stream answer NoopAnswer; a wrong
// token is refused; Close removes run.json.
func TestEcho(t *testing.T) {
	dir := t.TempDir()
	s, err := StartEcho(EchoConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	info, err := runfile.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if info.URL() != s.URL() || info.SPKIPin != s.SPKIPin() || info.PID != os.Getpid() {
		t.Fatalf("run.json %+v; server %s pin %s", info, s.URL(), s.SPKIPin())
	}
	tok, err := os.ReadFile(filepath.Join(dir, "token"))
	if err != nil || strings.TrimSpace(string(tok)) != s.Token() {
		t.Fatalf("token file %q, %v", tok, err)
	}
	c, err := transport.NewClient(info.URL(), transport.ClientConfig{Token: s.Token(), SPKIPin: info.SPKIPin})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	status, ans, err := c.Execute(ctx, NoopMessage, "")
	if err != nil || status != 200 {
		t.Fatalf("execute: %d %q %v", status, ans, err)
	}
	checkNumbered(t, ans, 1)
	st, err := c.Stream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := st.Send(NoopMessage); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		ans, err := st.Recv()
		if err != nil {
			t.Fatalf("stream answer %d: %v", i, err)
		}
		checkNumbered(t, ans, uint64(2+i))
	}
	st.CloseSend()
	st.Close()

	bad, err := transport.NewClient(info.URL(), transport.ClientConfig{Token: "wrong", SPKIPin: info.SPKIPin})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if status, _, err := bad.Execute(ctx, NoopMessage, ""); err != nil || status != 401 {
		t.Fatalf("wrong token: status %d, %v", status, err)
	}
	if n := s.Requests(); n != 4 {
		t.Fatalf("Requests = %d, want 4", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(runfile.Path(dir)); !os.IsNotExist(err) {
		t.Fatalf("run.json after Close: %v", err)
	}
}

func TestAppendRecord(t *testing.T) {
	r := AppendRecord(nil, 12345)
	if len(r) != RecordBytes || !bytes.HasPrefix(r, []byte(`{"seq":12345,`)) || !bytes.HasSuffix(r, []byte(`"}`)) {
		t.Fatalf("record %d bytes: %s", len(r), r)
	}
}

// The loop in both modes, with a file small enough to wrap many times:
// every append succeeds, and the file holds records.
func TestLoop(t *testing.T) {
	for _, every := range []time.Duration{0, time.Millisecond} {
		path := filepath.Join(t.TempDir(), "loop")
		l, err := OpenLoop(path, LoopConfig{SyncInterval: every, FileBytes: 8 << 10})
		if err != nil {
			t.Fatal(err)
		}
		rep := RunDurable(context.Background(), DurableConfig{Writers: 4, Duration: long, Warmup: -1, MaxOps: 300},
			func(_ int, _ int64, rec []byte) error { return l.Append(rec) })
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if rep.OK < 300 || rep.Errors != 0 || rep.Throughput <= 0 || rep.Latency.Count != uint64(rep.OK) || len(rep.Histogram) == 0 {
			t.Fatalf("sync interval %v: %+v", every, rep)
		}
		b, err := os.ReadFile(path)
		if err != nil || len(b) != 8<<10 || !bytes.Contains(b, []byte(`{"seq":`)) {
			t.Fatalf("loop file: %d bytes, %v", len(b), err)
		}
		if err := l.Append(AppendRecord(nil, 1)); err == nil {
			t.Fatal("Append after Close succeeded")
		}
	}
}

func TestJournalStore(t *testing.T) {
	j, err := journal.Open(journal.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	s := NewJournalStore(j, 8)
	rep := RunDurable(context.Background(), DurableConfig{Writers: 8, Duration: long, Warmup: -1, MaxOps: 200}, s.Append)
	if rep.OK < 200 || rep.Errors != 0 {
		t.Fatalf("%+v", rep)
	}
	if st := j.Stats(); st.Appends < 200 {
		t.Fatalf("journal appends %d, want ≥ 200", st.Appends)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
}

// Failures are counted with the first kept, and count towards MaxOps, so
// a store that only fails still ends the run.
func TestRunDurableErrors(t *testing.T) {
	rep := RunDurable(context.Background(), DurableConfig{Writers: 1, Duration: long, Warmup: -1, MaxOps: 50}, func(int, int64, []byte) error {
		return os.ErrClosed
	})
	if rep.OK != 0 || rep.Errors != 50 || rep.FirstError != os.ErrClosed.Error() || rep.Throughput != 0 {
		t.Fatalf("%+v", rep)
	}
}

func TestParseBenchLines(t *testing.T) {
	var buf bytes.Buffer
	buf.WriteString("noise\n")
	for _, ops := range []int64{1000, 2000} {
		perf.Result{Name: "Fcload/target=h3/inflight=16", Ops: ops, Errors: 3, Elapsed: time.Second, Throughput: float64(ops),
			Latency: summary(100, 900)}.WriteBench(&buf)
	}
	rs, err := ParseBenchLines(&buf, perf.Workload{Target: "h3"})
	if err != nil || len(rs) != 1 {
		t.Fatalf("%v, %d reports", err, len(rs))
	}
	r := rs[0]
	if r.Name != "Fcload/target=h3/inflight=16" || len(r.Runs) != 2 || r.Workload.Target != "h3" {
		t.Fatalf("%+v", r)
	}
	rep := r.Runs[1]
	if rep.OK != 2000 || rep.Errors != 3 || rep.Throughput != 2000 || rep.Latency.P50 != 100 || rep.Latency.P99 != 900 || rep.Window != time.Second {
		t.Fatalf("%+v", rep)
	}
}

func summary(p50, p99 int64) (s stats.Summary) {
	s.P50, s.P99, s.P999, s.Max = p50, p99, p99, p99
	return s
}

// writeRun writes a report of one repetition and returns its file name.
func writeRun(t *testing.T, dir, file, name string, tput float64, p50 int64, errs int64) {
	t.Helper()
	r := &perf.Report{Name: name, Runs: []perf.Repetition{{OK: 100, Errors: errs, Throughput: tput, Latency: summary(p50, 2*p50)}}}
	r.Runs[0].Latency.Count = 100
	f, err := os.Create(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := r.WriteJSON(f); err != nil {
		t.Fatal(err)
	}
}

func TestManifestTable(t *testing.T) {
	dir := t.TempDir()
	writeRun(t, dir, "rt1.json", "Fcload/h3", 500, 2000, 0)
	writeRun(t, dir, "rt2.json", "Fcload/h3", 520, 2100, 0)
	writeRun(t, dir, "c1.json", "Fcload/h3echo", 1000, 1000, 0)
	writeRun(t, dir, "c2.json", "Fcload/h3echo", 1040, 1100, 0)
	manifest := "# cell\tside\tfile\n" +
		"h3 execute, 16\truntime\trt1.json\n" +
		"h3 execute, 16\th3echo\tc1.json\n" +
		"h3 execute, 16\truntime\trt2.json\n" +
		"h3 execute, 16\th3echo\tc2.json\n"
	mpath := filepath.Join(dir, "cells.tsv")
	os.WriteFile(mpath, []byte(manifest), 0o644)
	cells, err := ReadManifest(mpath)
	if err != nil {
		t.Fatal(err)
	}
	if len(cells) != 1 || len(cells[0].Runtime.Runs) != 2 || len(cells[0].Refs) != 1 || cells[0].Refs[0].Name != "h3echo" {
		t.Fatalf("cells %+v", cells)
	}
	if f := Failures(cells); len(f) != 0 {
		t.Fatalf("failures %v", f)
	}
	var out bytes.Buffer
	WriteTable(&out, cells)
	row := "| h3 execute, 16 | h3echo | 510/s | 1.0k/s | 0.50× | 2.05 µs | +1.00 µs | 4.10 µs | +2.00 µs | — | 2+2 | ~ (need ≥4 runs) |"
	if !strings.Contains(out.String(), row) {
		t.Fatalf("table lacks\n%s\ngot\n%s", row, out.String())
	}

	mdir := t.TempDir()
	if err := WriteMerged(mdir, cells); err != nil {
		t.Fatal(err)
	}
	m, err := perf.ReadReport(filepath.Join(mdir, "h3_execute_16~h3echo.json"))
	if err != nil || m.Name != "Matrix/h3 execute, 16/side=h3echo" || len(m.Runs) != 2 {
		t.Fatalf("merged: %v %+v", err, m)
	}

	// A run with errors is a failure.
	writeRun(t, dir, "bad.json", "Fcload/h3", 500, 2000, 7)
	os.WriteFile(mpath, []byte(manifest+"h3 execute, 16\truntime\tbad.json\n"), 0o644)
	if cells, err = ReadManifest(mpath); err != nil {
		t.Fatal(err)
	}
	if f := Failures(cells); len(f) != 1 || !strings.Contains(f[0], "runtime run 3: 100 ok, 7 errors") {
		t.Fatalf("failures %v", f)
	}
	// A malformed line is refused with its place.
	os.WriteFile(mpath, []byte("only two\tfields\n"), 0o644)
	if _, err := ReadManifest(mpath); err == nil || !strings.Contains(err.Error(), "cells.tsv:1") {
		t.Fatalf("malformed manifest: %v", err)
	}
}

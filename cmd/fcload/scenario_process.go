package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/femtoclaw/femtoclaw-go/internal/runfile"
	"github.com/femtoclaw/femtoclaw-go/journal"
	"github.com/femtoclaw/femtoclaw-go/perf"
	"github.com/femtoclaw/femtoclaw-go/protocol"
	"github.com/femtoclaw/femtoclaw-go/transport"
)

// The process scenarios start the femtoclaw binary as
//
//	femtoclaw serve --data-dir DIR --listen 127.0.0.1:0 --admin 127.0.0.1:0
//
// (the embedded default configuration otherwise: journal durability
// always, the ring socket, the events file; FEMTOCLAW_* variables of this
// environment are not passed on), and read its JSON log on stderr.
//
// Ready is the runtime's own "femtoclaw ready" record: serve writes it
// once configuration, capability registry, policy engine and journal are
// initialized (the journal recovered), every listener is bound, run.json
// is written and the startup is journaled — the runtime's IDLE state, the
// end of startup in FC-BENCH §5. A request is then sent over HTTP/3 to
// prove it (its time is in the note, not the figure: it adds a QUIC and
// TLS handshake that is the client's). Stopped is the process's exit
// after SIGTERM, observed by wait.

// serverProc is a `femtoclaw serve` a scenario started. Its log is read
// on exec's copying goroutine, under mu; readyAt, ready and opened are
// set before readyc closes (startServer returns after), exitAt and
// waitErr before exited closes, and are read only after that.
type serverProc struct {
	cmd     *exec.Cmd
	dataDir string
	start   time.Time // just before the process was started
	readyAt time.Time // when its ready record was read
	ready   map[string]any
	opened  map[string]any // its "journal open" record
	exited  chan struct{}
	exitAt  time.Time
	waitErr error

	mu   sync.Mutex
	tail []string // its last log records, for errors
}

// femtoclawBin is the binary the process scenarios start.
func (s *scenarioRun) femtoclawBin() (string, error) {
	if s.cfg.Femtoclaw != "" {
		return s.cfg.Femtoclaw, nil
	}
	exe, err := os.Executable()
	if err == nil {
		name := "femtoclaw"
		if runtime.GOOS == "windows" {
			name += ".exe"
		}
		bin := filepath.Join(filepath.Dir(exe), name)
		if _, err := os.Stat(bin); err == nil {
			return bin, nil
		}
	}
	return "", errors.New("no femtoclaw binary beside fcload: build both (go build -o DIR ./cmd/fcload ./cmd/femtoclaw) or give -femtoclaw PATH")
}

// serverEnv is this environment without its FEMTOCLAW_* configuration.
func serverEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "FEMTOCLAW_") })
}

// logLines calls fn with each complete line written to it.
type logLines struct {
	buf []byte
	fn  func(line []byte)
}

func (w *logLines) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.fn(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
}

// readyTimeout bounds a start (a large journal's recovery included).
const readyTimeout = 2 * time.Minute

// startServer starts serve on dataDir and waits until it is ready.
func startServer(ctx context.Context, bin, dataDir string) (*serverProc, error) {
	sp := &serverProc{dataDir: dataDir, exited: make(chan struct{})}
	readyc := make(chan struct{})
	sp.cmd = exec.Command(bin, "serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0")
	sp.cmd.Env = serverEnv()
	sp.cmd.Stderr = &logLines{fn: func(line []byte) {
		now := time.Now()
		sp.mu.Lock()
		defer sp.mu.Unlock()
		switch {
		case sp.ready == nil && bytes.Contains(line, []byte(`"msg":"femtoclaw ready"`)):
			sp.readyAt = now
			if json.Unmarshal(line, &sp.ready) != nil || sp.ready == nil {
				sp.ready = map[string]any{}
			}
			close(readyc)
		case sp.opened == nil && bytes.Contains(line, []byte(`"msg":"journal open"`)):
			json.Unmarshal(line, &sp.opened)
		}
		if !bytes.HasPrefix(line, []byte("{")) {
			return // not a log record (the banner of a generated token)
		}
		if len(sp.tail) == 5 {
			sp.tail = sp.tail[1:]
		}
		sp.tail = append(sp.tail, string(line))
	}}
	sp.start = time.Now()
	if err := sp.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		err := sp.cmd.Wait()
		sp.mu.Lock()
		sp.exitAt, sp.waitErr = time.Now(), err
		sp.mu.Unlock()
		close(sp.exited)
	}()
	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case <-readyc:
		return sp, nil
	case <-sp.exited:
		return nil, fmt.Errorf("femtoclaw serve exited before it was ready (%v): %s", sp.waitErr, sp.lastLines())
	case <-ctx.Done():
		sp.kill()
		return nil, ctx.Err()
	case <-timer.C:
		sp.kill()
		return nil, fmt.Errorf("femtoclaw serve not ready after %v: %s", readyTimeout, sp.lastLines())
	}
}

// startup is process start to ready.
func (sp *serverProc) startup() time.Duration { return sp.readyAt.Sub(sp.start) }

func (sp *serverProc) lastLines() string {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return strings.Join(sp.tail, " | ")
}

func (sp *serverProc) kill() {
	sp.cmd.Process.Kill()
	<-sp.exited
}

// stop sends SIGTERM and returns the time to the process's exit. A server
// that has not exited within 10 s is killed, and that is an error.
func (sp *serverProc) stop() (time.Duration, error) {
	t0 := time.Now()
	if err := sp.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		sp.kill()
		return 0, fmt.Errorf("SIGTERM: %w", err)
	}
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case <-sp.exited:
	case <-timer.C:
		sp.kill()
		return 0, fmt.Errorf("femtoclaw serve still running 10 s after SIGTERM; killed: %s", sp.lastLines())
	}
	if sp.waitErr != nil {
		return sp.exitAt.Sub(t0), fmt.Errorf("femtoclaw serve exited with %v: %s", sp.waitErr, sp.lastLines())
	}
	return sp.exitAt.Sub(t0), nil
}

// client connects to the server as its run.json and token describe it.
func (sp *serverProc) client() (*transport.Client, error) {
	info, err := runfile.Read(sp.dataDir)
	if err != nil {
		return nil, err
	}
	tok, err := os.ReadFile(filepath.Join(sp.dataDir, "token"))
	if err != nil {
		return nil, err
	}
	return transport.NewClient(info.URL(), transport.ClientConfig{Token: strings.TrimSpace(string(tok)), SPKIPin: info.SPKIPin})
}

// execute sends one noop and returns its successful, durable answer.
func execute(ctx context.Context, c *transport.Client) (*protocol.Answer, error) {
	status, body, err := c.Execute(ctx, noopMsg, "")
	if err != nil {
		return nil, err
	}
	if status != 200 {
		return nil, fmt.Errorf("status %d: %s", status, clip(body))
	}
	a, err := protocol.ParseAnswer(body)
	if err != nil {
		return nil, err
	}
	if err := answerOK(a, true); err != nil {
		return nil, err
	}
	if !a.Journal.Durable {
		return nil, errors.New("answer not durable")
	}
	return a, nil
}

// firstAnswer is the time from the process's start to a first answer
// over HTTP/3.
func (sp *serverProc) firstAnswer(ctx context.Context) (time.Duration, error) {
	c, err := sp.client()
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if _, err := execute(ctx, c); err != nil {
		return 0, err
	}
	return time.Since(sp.start), nil
}

// resetDataDir empties a data directory but for its identity (the token
// and the TLS material serve generated on its first start).
func resetDataDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.Name() == "token" || e.Name() == "tls" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// primeDataDir starts and stops serve once on dir when it has no token
// yet (the first start generates the token and the TLS certificate), and
// returns how long that start took.
func primeDataDir(ctx context.Context, bin, dir string) (time.Duration, error) {
	if _, err := os.Stat(filepath.Join(dir, "token")); err == nil {
		return 0, nil
	}
	sp, err := startServer(ctx, bin, dir)
	if err != nil {
		return 0, err
	}
	_, err = sp.stop()
	return sp.startup(), err
}

// durations returns the median of samples and a note on them: "median
// of 5 starts (min 38 ms, max 52 ms)", or "1 start".
func durations(d []time.Duration, one, many string) (med time.Duration, note string) {
	c := slices.Clone(d)
	slices.Sort(c)
	med = c[len(c)/2]
	if len(c)%2 == 0 {
		med = (c[len(c)/2-1] + c[len(c)/2]) / 2
	}
	if len(c) == 1 {
		return med, "1 " + one
	}
	return med, fmt.Sprintf("median of %d %s (min %s, max %s)", len(c), many, fmtDur(c[0]), fmtDur(c[len(c)-1]))
}

// logField returns a field of a log record as text ("?" when absent).
func logField(rec map[string]any, key string) string {
	if v, ok := rec[key]; ok {
		if b, err := json.Marshal(v); err == nil {
			return strings.Trim(string(b), `"`)
		}
	}
	return "?"
}

// logDuration returns a duration field of a log record, formatted.
func logDuration(rec map[string]any, key string) string {
	s, _ := rec[key].(string)
	if d, err := time.ParseDuration(s); err == nil {
		return fmtDur(d)
	}
	return "?"
}

// startupPhases renders the ready record's startup and phases, in the
// order serve runs them: "41.1 ms: config 1.8 ms, …".
func startupPhases(ready map[string]any) string {
	out := logDuration(ready, "startup")
	phases, _ := ready["phases"].(map[string]any)
	keys := make([]string, 0, len(phases))
	for k := range phases {
		keys = append(keys, k)
	}
	order := []string{"config", "runtime_journal_registry_policy", "listeners", "startup_record"}
	slices.SortFunc(keys, func(a, b string) int {
		ia, ib := slices.Index(order, a), slices.Index(order, b)
		if ia < 0 {
			ia = len(order)
		}
		if ib < 0 {
			ib = len(order)
		}
		if ia != ib {
			return ia - ib
		}
		return strings.Compare(a, b)
	})
	for i, k := range keys {
		sep := ", "
		if i == 0 {
			sep = ": "
		}
		out += sep + k + " " + logDuration(phases, k)
	}
	return out
}

// timeStarts starts and stops serve n times on dir (reset first, when
// reset is set), and returns the startups, the first start's time to a
// first answer, and the last start's ready and journal records.
func timeStarts(ctx context.Context, bin, dir string, n int, reset bool) (ups []time.Duration, first time.Duration, last *serverProc, err error) {
	for i := range n {
		if reset {
			if err := resetDataDir(dir); err != nil {
				return nil, 0, nil, err
			}
		}
		sp, err := startServer(ctx, bin, dir)
		if err != nil {
			return nil, 0, nil, err
		}
		ups = append(ups, sp.startup())
		if i == 0 {
			if first, err = sp.firstAnswer(ctx); err != nil {
				sp.kill()
				return nil, 0, nil, fmt.Errorf("the started server did not answer: %w", err)
			}
		}
		if _, err := sp.stop(); err != nil {
			return nil, 0, nil, err
		}
		last = sp
	}
	return ups, first, last, nil
}

func processWorkload(cfg scenarioConfig, what string) perf.Workload {
	return perf.Workload{Target: "process", Transport: "exec", Loop: "closed", Count: int64(cfg.Starts),
		Config: map[string]string{"serve": "femtoclaw serve --listen 127.0.0.1:0 --admin 127.0.0.1:0, default configuration", "data": what}}
}

// scenarioStartup measures process start to ready: on a data directory
// whose journal is empty (its token and certificate kept), and on one
// whose journal holds cfg.JournalRecords records (built once and cached).
func scenarioStartup(ctx context.Context, s *scenarioRun) ([]scenarioResult, error) {
	bin, err := s.femtoclawBin()
	if err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "fcload-scenario-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	var out []scenarioResult
	data := filepath.Join(work, "data")
	cold, err := primeDataDir(ctx, bin, data)
	if err != nil {
		return nil, err
	}
	ups, first, last, err := timeStarts(ctx, bin, data, s.cfg.Starts, true)
	if err != nil {
		return nil, err
	}
	med, spread := durations(ups, "start", "starts")
	r := measuredRow("startup-empty", "startup", float64(med),
		fmt.Sprintf("%s to ready, on a data directory with an empty journal (its token and TLS certificate kept: the very first start, generating them, took %s); as the runtime counts it %s; first HTTP/3 answer %s after the process start",
			spread, fmtDur(cold), startupPhases(last.ready), fmtDur(first)))
	r.workload = processWorkload(s.cfg, "empty")
	r.server = &perf.Server{Version: logField(last.ready, "version")}
	out = append(out, r)

	id := "startup-journal-" + shortCount(s.cfg.JournalRecords)
	if s.cfg.JournalRecords <= 0 {
		return append(out, notMeasured(id, "startup", errors.New("skipped: no large journal asked for"))), nil
	}
	big, err := cachedJournalDir(s.cfg.Cache, s.cfg.JournalRecords, s.progress)
	if err == nil {
		_, err = primeDataDir(ctx, bin, big)
	}
	if err == nil {
		ups, first, last, err = timeStarts(ctx, bin, big, s.cfg.Starts, false)
	}
	if err != nil {
		return append(out, notMeasured(id, "startup", err)), nil
	}
	med, spread = durations(ups, "start", "starts")
	r = measuredRow(id, "startup", float64(med),
		fmt.Sprintf("%s to ready, on a journal of %s records (head seq %s, recovered in %s; the idempotency key index then reads its retention window in the background); as the runtime counts it %s; first HTTP/3 answer %s after the process start; data kept in %s",
			spread, groupInt(s.cfg.JournalRecords), logField(last.opened, "head_seq"), logDuration(last.opened, "recovery"), startupPhases(last.ready), fmtDur(first), filepath.Dir(big)))
	r.workload = processWorkload(s.cfg, fmt.Sprintf("journal of %d records", s.cfg.JournalRecords))
	r.server = &perf.Server{Version: logField(last.ready, "version")}
	return append(out, r), nil
}

// Shutdown load: loadConns HTTP/3 connections carrying loadWorkers noop
// requests in flight.
const (
	loadConns   = 4
	loadWorkers = 64
)

// scenarioShutdown measures SIGTERM to exit on an idle server (one idle
// client connection open) and on one under HTTP/3 load, then checks that
// every execution the load saw acknowledged (a successful, durable
// answer) is in the journal the server left: the journal verifies, and
// each acknowledged execution id is found at its sequence number.
func scenarioShutdown(ctx context.Context, s *scenarioRun) ([]scenarioResult, error) {
	bin, err := s.femtoclawBin()
	if err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "fcload-scenario-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	var out []scenarioResult
	idle := filepath.Join(work, "idle")
	if _, err := primeDataDir(ctx, bin, idle); err != nil {
		return nil, err
	}
	var downs []time.Duration
	for range s.cfg.Starts {
		sp, err := startServer(ctx, bin, idle)
		if err != nil {
			return nil, err
		}
		c, err := sp.client()
		if err == nil {
			_, err = execute(ctx, c)
		}
		if err != nil {
			sp.kill()
			return nil, fmt.Errorf("the started server did not answer: %w", err)
		}
		d, err := sp.stop()
		c.Close()
		if err != nil {
			return nil, err
		}
		downs = append(downs, d)
	}
	med, spread := durations(downs, "SIGTERM", "SIGTERMs")
	r := measuredRow("shutdown-idle", "shutdown", float64(med), fmt.Sprintf("%s to exit, of an idle server (one idle HTTP/3 connection open)", spread))
	r.workload = processWorkload(s.cfg, "idle")
	out = append(out, r)

	runs := 3
	if s.cfg.Quick {
		runs = 1
	}
	downs = downs[:0]
	var acked, lost, inFlight int
	var verify []string
	for i := range runs {
		dir := filepath.Join(work, fmt.Sprintf("load-%d", i))
		res, err := shutdownUnderLoad(ctx, bin, dir, s.cfg.LoadFor)
		if err != nil {
			return append(out, notMeasured("shutdown-load", "shutdown", err), notMeasured("shutdown-loss", "shutdown-loss", err)), nil
		}
		downs = append(downs, res.down)
		acked, lost, inFlight = acked+res.acked, lost+res.lost, inFlight+res.afterSignal
		verify = append(verify, res.verify)
	}
	med, spread = durations(downs, "SIGTERM", "SIGTERMs")
	load := fmt.Sprintf("%d noop requests in flight over %d HTTP/3 connections for %v, then SIGTERM; %d run(s)", loadWorkers, loadConns, s.cfg.LoadFor, runs)
	r = measuredRow("shutdown-load", "shutdown", float64(med), fmt.Sprintf("%s to exit, under load (%s answers acknowledged after the signal: drained); %s", spread, groupInt(inFlight), load))
	r.workload = perf.Workload{Target: "h3", Transport: "execute", Loop: "closed", Conns: loadConns, Workers: loadWorkers, Duration: s.cfg.LoadFor,
		Mix: []perf.MixEntry{{Name: "noop", Weight: 1, Bytes: len(noopMsg), Expect: "allow"}}, Config: map[string]string{"journal": "always"}}
	loss := measuredRow("shutdown-loss", "shutdown-loss", float64(lost),
		fmt.Sprintf("%s of %s acknowledged executions missing from the journal after exit (looked up by execution id and seq); journal verify: %s; %s",
			groupInt(lost), groupInt(acked), strings.Join(verify, "; "), load))
	loss.workload = r.workload
	return append(out, r, loss), nil
}

// connect opens loadConns connections to the server, each proved by one
// execution (the handshakes are not part of any measurement).
func connect(ctx context.Context, sp *serverProc) ([]*transport.Client, error) {
	var clients []*transport.Client
	for range loadConns {
		c, err := sp.client()
		if err == nil {
			_, err = execute(ctx, c)
		}
		if err != nil {
			if c != nil {
				c.Close()
			}
			closeClients(clients)
			return nil, err
		}
		clients = append(clients, c)
	}
	return clients, nil
}

func closeClients(cs []*transport.Client) {
	for _, c := range cs {
		c.Close()
	}
}

// loadOutcome is one shutdown under load.
type loadOutcome struct {
	down        time.Duration
	acked, lost int
	afterSignal int    // acknowledged after SIGTERM was sent
	verify      string // what journal verification said
}

func shutdownUnderLoad(ctx context.Context, bin, dir string, loadFor time.Duration) (loadOutcome, error) {
	var res loadOutcome
	sp, err := startServer(ctx, bin, dir)
	if err != nil {
		return res, err
	}
	clients, err := connect(ctx, sp)
	if err != nil {
		sp.kill()
		return res, err
	}
	defer closeClients(clients)
	type ack struct {
		id  string
		seq uint64
	}
	var (
		mu         sync.Mutex
		acks       []ack
		signalled  atomic.Bool
		after      atomic.Int64
		preErrs    atomic.Int64
		firstError atomic.Value
	)
	lctx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var wg sync.WaitGroup
	for w := range loadWorkers {
		c := clients[w%loadConns]
		wg.Go(func() {
			for lctx.Err() == nil {
				a, err := execute(lctx, c)
				if err != nil {
					if !signalled.Load() && lctx.Err() == nil {
						preErrs.Add(1)
						firstError.CompareAndSwap(nil, err)
						continue
					}
					return // the server is going away: this worker is done
				}
				if signalled.Load() {
					after.Add(1)
				}
				mu.Lock()
				acks = append(acks, ack{a.ExecutionID, a.Journal.Seq})
				mu.Unlock()
			}
		})
	}
	select {
	case <-time.After(loadFor):
	case <-ctx.Done():
	}
	signalled.Store(true)
	res.down, err = sp.stop()
	stopLoad()
	wg.Wait()
	if err != nil {
		return res, err
	}
	if n := preErrs.Load(); n > 0 {
		return res, fmt.Errorf("%d requests failed before the SIGTERM; first: %v", n, firstError.Load())
	}
	if len(acks) == 0 {
		return res, errors.New("no execution was acknowledged before the SIGTERM")
	}
	jdir := filepath.Join(dir, "journal")
	rep, verr := journal.Verify(jdir)
	switch {
	case verr != nil:
		res.verify = "FAILED: " + verr.Error()
	case rep.Failure != nil:
		res.verify = "FAILED: " + rep.Failure.Error()
	default:
		res.verify = fmt.Sprintf("ok (%s records, head seq %d)", groupInt(int(rep.Records)), rep.HeadSeq)
	}
	found := make(map[string]uint64, len(acks))
	serr := journal.Scan(jdir, journal.Query{}, func(r *journal.Record) bool {
		found[r.ExecutionID] = r.Seq
		return true
	})
	res.acked, res.afterSignal = len(acks), int(after.Load())
	for _, a := range acks {
		if seq, ok := found[a.id]; !ok || seq != a.seq {
			res.lost++
		}
	}
	if serr != nil || strings.HasPrefix(res.verify, "FAILED") {
		// A journal that does not verify or read vouches for none of them.
		res.lost = len(acks)
		if serr != nil {
			res.verify += "; scan: " + serr.Error()
		}
	}
	return res, nil
}

// throughputH3 is closed-loop noop throughput over HTTP/3 (POST
// /v1/execute, loadConns connections) against `femtoclaw serve` on this
// machine.
func throughputH3(ctx context.Context, s *scenarioRun) (scenarioResult, error) {
	bin, err := s.femtoclawBin()
	if err != nil {
		return scenarioResult{}, err
	}
	work, err := os.MkdirTemp("", "fcload-scenario-")
	if err != nil {
		return scenarioResult{}, err
	}
	defer os.RemoveAll(work)
	sp, err := startServer(ctx, bin, filepath.Join(work, "data"))
	if err != nil {
		return scenarioResult{}, err
	}
	defer sp.stop()
	clients, err := connect(ctx, sp)
	if err != nil {
		return scenarioResult{}, err
	}
	defer closeClients(clients)
	started := time.Now()
	r := perf.Run(ctx, perf.Config{Name: "Scenario/throughput-h3", Workers: s.cfg.Workers, Duration: s.cfg.Duration, Warmup: s.cfg.Warmup}, func(i int) perf.Op {
		c := clients[i%loadConns]
		return func(ctx context.Context) error {
			_, err := execute(ctx, c)
			return err
		}
	})
	if r.Ops == 0 {
		return scenarioResult{}, firstErr(r)
	}
	row := measuredRow("throughput-h3", "throughput", r.Throughput,
		fmt.Sprintf("closed loop, %d workers over %d HTTP/3 connections (POST /v1/execute), noop, journal always, femtoclaw serve and this client on one machine; p99 %s, %d errors",
			s.cfg.Workers, loadConns, fmtNs(float64(r.Latency.P99)), r.Errors))
	row.workload = closedNoopWorkload(s.cfg, "h3", "execute", loadConns)
	row.runs = []perf.Repetition{repetition(r, started)}
	row.server = &perf.Server{PID: sp.cmd.Process.Pid, Version: logField(sp.ready, "version")}
	return row, nil
}
func clip(b []byte) string {
	const n = 512
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

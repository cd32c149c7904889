package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// eventLines makes n JSON lines of varied length, numbered from 0.
func eventLines(n int, rng *rand.Rand) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, `{"n":%d,"pad":"%s"}`+"\n", i, strings.Repeat("x", rng.IntN(300)))
	}
	return out
}

// writeChunked writes the lines through w in chunks cut at random
// offsets (mid-line, several lines, one byte), as a buffered writer would.
func writeChunked(t *testing.T, w *eventsFile, lines [][]byte, rng *rand.Rand) {
	t.Helper()
	all := bytes.Join(lines, nil)
	for len(all) > 0 {
		n := min(len(all), 1+rng.IntN(2000))
		if rng.IntN(10) == 0 {
			n = 1
		}
		if k, err := w.Write(all[:n]); err != nil || k != n {
			t.Fatalf("write: %d of %d: %v", k, n, err)
		}
		all = all[n:]
	}
}

// readEvents returns the event numbers in path, checking that every line
// is whole.
func readEvents(t *testing.T, path string) []int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Fatalf("%s ends mid-line", path)
	}
	var out []int
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, `{"n":`)
		num, _, ok2 := strings.Cut(rest, ",")
		n, err := strconv.Atoi(num)
		if !ok || !ok2 || err != nil || !strings.HasSuffix(line, `"}`) {
			t.Fatalf("%s: split or mangled event line %q", path, line)
		}
		out = append(out, n)
	}
	return out
}

// TestEventsFileRotation: the events file rotates past its bound at line
// ends only, keeps the newest files .1 .. .keep, and drops no event and
// splits none: the files, oldest first, hold a contiguous run of events
// that ends with the last one written.
func TestEventsFileRotation(t *testing.T) {
	for _, keep := range []int{0, 1, 3} {
		t.Run(fmt.Sprintf("keep=%d", keep), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(keep), 9))
			dir := t.TempDir()
			path := filepath.Join(dir, "events.jsonl")
			const bound = 8 << 10
			w, err := openEventsFile(path, bound, keep)
			if err != nil {
				t.Fatal(err)
			}
			lines := eventLines(2000, rng)
			writeChunked(t, w, lines, rng)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write([]byte("x\n")); !errors.Is(err, os.ErrClosed) {
				t.Fatalf("write after close: %v", err)
			}
			var got []int
			for i := keep; i >= 0; i-- {
				p := path
				if i > 0 {
					p += "." + strconv.Itoa(i)
				}
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				if i > 0 && (fi.Size() < bound || fi.Size() >= bound+int64(len(lines[0]))+300) {
					t.Fatalf("%s: %d bytes, bound %d", p, fi.Size(), bound)
				}
				got = append(got, readEvents(t, p)...)
			}
			if _, err := os.Stat(path + "." + strconv.Itoa(keep+1)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("more than %d old files kept: %v", keep, err)
			}
			if len(got) == 0 || got[len(got)-1] != len(lines)-1 {
				t.Fatalf("the last event is not the last written: %v", got[max(len(got)-3, 0):])
			}
			for i := 1; i < len(got); i++ {
				if got[i] != got[i-1]+1 {
					t.Fatalf("event %d follows %d: lost or reordered across a rotation", got[i], got[i-1])
				}
			}
		})
	}
}

// TestEventsFileReopen: an existing file keeps its size (it rotates when
// the bound is passed, counting what it held), a line an earlier process
// left unfinished is ended, and a bound of 0 never rotates.
func TestEventsFileReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.jsonl")
	os.WriteFile(path, append(bytes.Repeat([]byte(`{"n":0,"pad":"x"}`+"\n"), 400), `{"n":1,"pa`...), 0o600)
	w, err := openEventsFile(path, 4096, 2)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(`{"n":2,"pad":"y"}` + "\n" + `{"n":3,"pad":"y"}` + "\n"))
	w.Close()
	// The file was past the bound: the first write rotated it, after the
	// unfinished line was ended.
	old, _ := os.ReadFile(path + ".1")
	if !bytes.HasSuffix(old, []byte(`{"n":0,"pad":"x"}`+"\n"+`{"n":1,"pa`+"\n")) {
		t.Fatalf("the unfinished line was not ended: %q", old[len(old)-40:])
	}
	if cur := readEvents(t, path); len(cur) != 2 || cur[0] != 2 || cur[1] != 3 {
		t.Fatalf("new file holds %v", cur)
	}
	never := filepath.Join(dir, "never.jsonl")
	w, _ = openEventsFile(never, 0, 2)
	writeChunked(t, w, eventLines(500, rand.New(rand.NewPCG(1, 1))), rand.New(rand.NewPCG(2, 2)))
	w.Close()
	if _, err := os.Stat(never + ".1"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("rotated with a bound of 0: %v", err)
	}
	for _, bad := range [][2]int64{{-1, 1}, {100, 1}, {4096, -1}, {4096, 1001}} {
		if _, err := openEventsFile(filepath.Join(dir, "bad"), bad[0], int(bad[1])); err == nil {
			t.Fatalf("accepted max %d keep %d", bad[0], bad[1])
		}
	}
}

// TestRetentionAndRotationDefaults: rotation is on by default (64 MiB, 5
// files); retention is off (the journal keeps everything), and when set it
// never removes the idempotency window.
func TestRetentionAndRotationDefaults(t *testing.T) {
	dir := t.TempDir()
	cfg, err := loadConfig("", []string{"FEMTOCLAW_DATA_DIR=" + dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Telemetry.EventsMaxBytes != 64<<20 || cfg.Telemetry.EventsKeep != 5 {
		t.Fatalf("rotation defaults %+v", cfg.Telemetry)
	}
	w, c, err := openEvents(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := w.(*eventsFile); !ok || f.maxBytes != 64<<20 || f.keep != 5 || f.path != filepath.Join(dir, "events.jsonl") {
		t.Fatalf("events writer %T %+v", w, w)
	}
	c.Close()
	if rc := journalRetention(cfg); rc.MaxAge != 0 || rc.MaxBytes != 0 || rc.ArchiveDir != "" {
		t.Fatalf("retention on by default: %+v", rc)
	}
	cfg, err = loadConfig("", []string{"FEMTOCLAW_DATA_DIR=" + dir}, []string{"journal.retention.max_age=720h",
		"journal.retention.max_bytes=1073741824", "journal.retention.archive_dir=journal-archive"})
	if err != nil {
		t.Fatal(err)
	}
	rc := journalRetention(cfg)
	if rc.MaxAge != 720*60*60e9 || rc.MaxBytes != 1<<30 || rc.ArchiveDir != filepath.Join(dir, "journal-archive") || rc.MinAge != cfg.Execution.Idempotency.Retention || rc.MinAge == 0 {
		t.Fatalf("retention %+v", rc)
	}
}

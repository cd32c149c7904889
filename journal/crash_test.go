package journal

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

const crashDirEnv = "FEMTOCLAW_TEST_CRASH_DIR"

// TestCrashChild is the child half of TestCrash: it appends from 16
// goroutines in DurabilityAlways mode and prints "seq execution-id" for
// every acknowledged record until it is killed. It does nothing unless
// started by TestCrash.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("child process of TestCrash")
	}
	round := os.Getenv(crashDirEnv + "_ROUND")
	mode := Durability(os.Getenv(crashDirEnv + "_MODE"))
	j, err := Open(Config{Dir: dir, SegmentSize: 128 << 10, CheckpointEvery: 64, Durability: mode})
	if err != nil {
		fmt.Fprintf(os.Stderr, "child open: %v\n", err)
		os.Exit(3)
	}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				r := testRecord(i)
				r.ExecutionID = fmt.Sprintf("r%s-g%d-%d", round, g, i)
				if i%5 == 0 {
					r.Kind = KindIntent
				}
				seq, err := j.Append(r)
				if err != nil {
					fmt.Fprintf(os.Stderr, "child append: %v\n", err)
					os.Exit(4)
				}
				// One write per line: atomic on a pipe.
				os.Stdout.WriteString(strconv.FormatUint(seq, 10) + " " + r.ExecutionID + "\n")
			}
		})
	}
	wg.Wait()
}

// TestCrash kills a child that appends under concurrency with SIGKILL at
// random moments, several times; after each kill every record the child
// reported as acknowledged must be present and the chain must verify. In
// interval mode too: a process crash loses nothing acknowledged (only a
// machine crash can, within the sync interval).
func TestCrash(t *testing.T) {
	if os.Getenv(crashDirEnv) != "" {
		t.Skip("in child")
	}
	for _, mode := range []Durability{DurabilityAlways, DurabilityInterval} {
		t.Run("mode="+string(mode), func(t *testing.T) { testCrash(t, mode) })
	}
}

func testCrash(t *testing.T, mode Durability) {
	rounds := 12
	if testing.Short() {
		rounds = 3
	}
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	dir := t.TempDir()
	acked := map[uint64]string{}
	for round := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashDirEnv+"_ROUND="+strconv.Itoa(round),
			crashDirEnv+"_MODE="+string(mode))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAfter := 1 + rng.IntN(4000)
		sc := bufio.NewScanner(out)
		n := 0
		killed := false
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 2 {
				continue // test framework output
			}
			seq, err := strconv.ParseUint(f[0], 10, 64)
			if err != nil {
				continue
			}
			if prev, dup := acked[seq]; dup {
				t.Fatalf("round %d: seq %d acknowledged twice (%s, %s)", round, seq, prev, f[1])
			}
			acked[seq] = f[1]
			if n++; n == killAfter && !killed {
				cmd.Process.Signal(syscall.SIGKILL)
				killed = true
			}
		}
		err = cmd.Wait()
		if !killed {
			t.Fatalf("round %d: child exited before the kill: %v\n%s", round, err, stderr.String())
		}
		// Recover and check every acknowledged record.
		j, err := Open(Config{Dir: dir, SegmentSize: 128 << 10})
		if err != nil {
			t.Fatalf("round %d: Open after kill: %v", round, err)
		}
		rep := j.Recovery()
		have := map[uint64]string{}
		if err := j.Scan(Query{}, func(r *Record) bool { have[r.Seq] = r.ExecutionID; return true }); err != nil {
			t.Fatal(err)
		}
		j.Close()
		for seq, id := range acked {
			if have[seq] != id {
				t.Fatalf("round %d: acknowledged seq %d (%s) missing after kill (have %q); recovery %+v", round, seq, id, have[seq], rep)
			}
		}
		if _, err := Verify(dir); err != nil {
			t.Fatalf("round %d: Verify after recovery: %v", round, err)
		}
		t.Logf("round %d: killed after %d acks; %d records, truncated %d bytes / %d records, %d interrupted intents, open %v",
			round, n, rep.Records, rep.TruncatedBytes, rep.TruncatedRecords, len(rep.Interrupted), rep.Duration)
	}
}

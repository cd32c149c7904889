package ceiling

import (
	"context"
	"os"
	"strings"
	"testing"
)

// ringChildEnv makes the test binary the ring's echo child (see TestMain).
const ringChildEnv = "FEMTOCLAW_TEST_RING_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(ringChildEnv) == "1" {
		if err := ServeRing(os.NewFile(3, "ring")); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func ringConfig(t *testing.T, inflight int) RingConfig {
	t.Setenv(ringChildEnv, "1")
	return RingConfig{InFlight: inflight, Duration: long, Warmup: -1, MaxOps: 500, Child: []string{os.Args[0], "-test.run=^$"}}
}

// One and many in flight: every answer comes back and passes the check;
// the child is stopped and reaped.
func TestRing(t *testing.T) {
	for _, n := range []int{1, 64} {
		rep, err := RunRing(context.Background(), ringConfig(t, n))
		if err != nil {
			t.Fatalf("inflight %d: %v", n, err)
		}
		if rep.OK < 500 || rep.Errors != 0 || rep.Latency.Count != uint64(rep.OK) || rep.Throughput <= 0 {
			t.Fatalf("inflight %d: %+v", n, rep)
		}
	}
}

// An answer the check refuses is an error of the run, not a success; a
// cancelled run returns the context's error.
func TestRingBadAnswer(t *testing.T) {
	cfg := ringConfig(t, 4)
	cfg.Answer = []byte(`{"status":"nonsense"}`)
	rep, err := RunRing(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK != 0 || rep.Errors < 500 || !strings.Contains(rep.FirstError, "answer") {
		t.Fatalf("%+v", rep)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := RunRing(ctx, ringConfig(t, 1)); err != context.Canceled {
		t.Fatalf("cancelled run: %v", err)
	}
}

func TestRingRefusesOversizedMessage(t *testing.T) {
	cfg := ringConfig(t, 1)
	cfg.Message = make([]byte, ringMaxMsg+1)
	if _, err := RunRing(context.Background(), cfg); err == nil {
		t.Fatal("oversized message accepted")
	}
}

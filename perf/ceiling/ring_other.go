//go:build !linux

package ceiling

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/femtoclaw/femtoclaw-go/perf"
)

// RingConfig configures RunRing (see the Linux build).
type RingConfig struct {
	InFlight               int
	Duration, Warmup, Spin time.Duration
	MaxOps                 int64
	Message, Answer        []byte
	SkipCheck              bool
	Child                  []string
}

var errRingUnsupported = errors.New("ceiling: the ring ceiling needs Linux (memfd, futex)")

// RunRing needs Linux.
func RunRing(context.Context, RingConfig) (perf.Repetition, error) {
	return perf.Repetition{}, errRingUnsupported
}

// ServeRing needs Linux.
func ServeRing(*os.File) error { return errRingUnsupported }

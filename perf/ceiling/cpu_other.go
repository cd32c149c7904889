//go:build !unix

package ceiling

import "time"

// processCPU is not measured here: reports carry no server CPU figure.
func processCPU() time.Duration { return 0 }

//go:build !unix

package stats

func processCPUSeconds() float64 { return 0 }

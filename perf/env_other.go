//go:build !linux

package perf

func readProcess(int) (ProcessSample, error) { return ProcessSample{}, ErrUnsupported }

func storageOf(string) string { return "" }

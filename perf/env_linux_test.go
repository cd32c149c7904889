package perf

import (
	"os"
	"strings"
	"testing"
)

func TestReadProcessSelf(t *testing.T) {
	s, err := ReadProcess(os.Getpid())
	if err != nil || s.RSSBytes <= 0 || s.HWMBytes < s.RSSBytes || s.CPUSeconds < 0 {
		t.Fatalf("%+v %v", s, err)
	}
	if _, err := ReadProcess(1 << 30); err == nil {
		t.Fatal("a process that does not exist was read")
	}
	if st := storageOf(t.TempDir()); st == "" || strings.Contains(st, "fs 0x0") {
		t.Fatalf("storage %q", st)
	}
}

package transport

import "testing"

// growStack's frame must stay on the stack: escaping to the heap it would
// cost a 4 KiB allocation per request instead of saving a stack copy.
func TestGrowStackDoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { growStack() }); n != 0 {
		t.Fatalf("growStack allocates %v times per call", n)
	}
}

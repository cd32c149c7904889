package protocol

import (
	"strconv"
	"strings"
	"testing"
)

// Case-only twins are judged the same way whatever the object's size.
func TestCaseFoldSameForSmallAndLargeObjects(t *testing.T) {
	pad := func(n int) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			b.WriteString(`"p` + strconv.Itoa(i) + `":0,`)
		}
		return b.String()
	}
	for _, pair := range [][2]string{{"s", "ſ"}, {"i", "İ"}, {"k", "K"}} {
		small := `{"` + pair[0] + `":1,"` + pair[1] + `":2}`
		big := `{` + pad(20) + `"` + pair[0] + `":1,"` + pair[1] + `":2}`
		_, e1 := ParseValue([]byte(small), Limits{})
		_, e2 := ParseValue([]byte(big), Limits{})
		t.Logf("%q vs %q: small object err=%v | 20+ keys err=%v", pair[0], pair[1], e1, e2)
		if (e1 == nil) != (e2 == nil) {
			t.Errorf("%q/%q: verdict depends on the object's size", pair[0], pair[1])
		}
	}
}

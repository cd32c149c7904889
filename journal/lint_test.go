package journal

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps the journal a leaf: the standard library, the
// compressor and x/sys only; no project package, no math/rand.
func TestImports(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		af, err := parser.ParseFile(fset, f, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range af.Imports {
			path, _ := strconv.Unquote(im.Path.Value)
			first, _, _ := strings.Cut(path, "/")
			switch {
			case path == "math/rand":
				t.Errorf("%s imports math/rand", f)
			case strings.HasPrefix(path, "github.com/klauspost/compress/"), strings.HasPrefix(path, "golang.org/x/sys/"):
			case strings.Contains(first, "."):
				t.Errorf("%s imports %s: the journal may use only the standard library, klauspost/compress and x/sys", f, path)
			}
		}
	}
}

package ipc

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps ipc small: the standard library, x/sys, and of the
// project only pipeline (the Executor's request) and protocol (answers
// and reasons); no math/rand.
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
			case strings.HasPrefix(path, "golang.org/x/sys/"),
				path == "github.com/femtoclaw/femtoclaw-go/pipeline", path == "github.com/femtoclaw/femtoclaw-go/protocol":
			case strings.Contains(first, "."):
				t.Errorf("%s imports %s: ipc may use only the standard library, x/sys, pipeline and protocol", f, path)
			}
		}
	}
}

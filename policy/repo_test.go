package policy

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// repoPolicy is one policy document shipped in the repository.
type repoPolicy struct {
	name string // a path from the repository root, or "policy/doc.go (example)"
	data []byte
}

// repoPolicies returns every policy document in the repository: each
// YAML file whose top-level keys are all policy keys (so configurations,
// which have others, and `policy test` files are left out), the embedded
// default policy, and the full example in doc.go.
func repoPolicies(t *testing.T) []repoPolicy {
	t.Helper()
	keys := yamlKeys(reflect.TypeFor[rawDoc]())
	var out []repoPolicy
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); name == ".git" || name == "node_modules" || path != ".." && strings.HasPrefix(name, ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if ext := filepath.Ext(path); ext != ".yaml" && ext != ".yml" {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var top map[string]yaml.Node
		if yaml.Unmarshal(data, &top) != nil || len(top) == 0 {
			return nil
		}
		for k := range top {
			if !slices.Contains(keys, k) {
				return nil
			}
		}
		out = append(out, repoPolicy{strings.TrimPrefix(filepath.ToSlash(path), "../"), data})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, repoPolicy{"policy/policy.go (defaultYAML)", []byte(defaultYAML)}, docExample(t))
	for _, want := range []string{"policy/testdata/anchor.yaml", "policy/testdata/hardened.yaml"} {
		if !slices.ContainsFunc(out, func(p repoPolicy) bool { return p.name == want }) {
			t.Fatalf("repoPolicies misses %s: %v", want, out)
		}
	}
	return out
}

// docExample returns the full example of the format in doc.go.
func docExample(t *testing.T) repoPolicy {
	t.Helper()
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(src), "// A full example:\n//\n")
	if !ok {
		t.Fatal("doc.go: no full example")
	}
	var b strings.Builder
	for line := range strings.SplitSeq(rest, "\n") {
		code, ok := strings.CutPrefix(line, "//\t")
		if !ok {
			break
		}
		b.WriteString(code + "\n")
	}
	return repoPolicy{"policy/doc.go (example)", []byte(b.String())}
}

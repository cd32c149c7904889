package main

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

// schemaFile is the published schema, relative to this package.
const schemaFile = "../../schema/config.schema.json"

func TestConfigSchemaIsCurrent(t *testing.T) {
	got := configSchema()
	if os.Getenv("FEMTOCLAW_TEST_UPDATE_GOLDEN") == "1" {
		if err := os.WriteFile(schemaFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("schema/config.schema.json is not what the Config struct and default.yaml generate; "+
			"rewrite it with FEMTOCLAW_TEST_UPDATE_GOLDEN=1 go test ./cmd/femtoclaw -run TestConfigSchemaIsCurrent "+
			"(generated %d bytes, file %d bytes)", len(got), len(want))
	}
	// femtoclaw config --schema prints the same.
	if code, out, _ := runCLI(t, nil, "", "config", "--schema"); code != 0 || out != string(got) {
		t.Fatalf("config --schema: code %d, %d bytes", code, len(out))
	}
}

// compileConfigSchema compiles the published schema.
func compileConfigSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("config.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("config.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// yamlInstance reads a YAML document as the JSON value a schema
// validates.
func yamlInstance(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

// policyKeys are the top-level keys of a policy document (policy/doc.go),
// which is not a configuration.
var policyKeys = []string{"version", "default", "groups", "rules", "shell"}

// configExamples returns default.yaml and every YAML file in the
// repository that is a configuration: one whose top-level keys include a
// configuration section and no policy document key. testdata is skipped
// (its files are fixtures, some invalid on purpose).
func configExamples(t *testing.T) []string {
	t.Helper()
	root := "../.."
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); p != root && (strings.HasPrefix(n, ".") || n == "testdata" || n == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if ext := filepath.Ext(p); ext != ".yaml" && ext != ".yml" {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var top map[string]any
		if yaml.Unmarshal(data, &top) != nil {
			files = append(files, p) // not even YAML: validated, and fails
			return nil
		}
		isConfig := false
		for k, v := range top {
			if slices.Contains(policyKeys, k) {
				return nil
			}
			if m, ok := v.(map[string]any); ok && k == "policy" && m["rules"] != nil {
				return nil // a policy under "policy"
			}
			if c := keyTable().root.child(k); c != nil {
				isConfig = true
			}
		}
		if isConfig {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestConfigExamplesMatchTheSchema(t *testing.T) {
	s := compileConfigSchema(t)
	files := configExamples(t)
	for _, must := range []string{"../../cmd/femtoclaw/default.yaml", "../../examples/config/production.yaml"} {
		if !slices.Contains(files, filepath.Clean(must)) {
			t.Fatalf("%s is not among the configurations found: %q", must, files)
		}
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(yamlInstance(t, data)); err != nil {
			t.Errorf("%s does not match schema/config.schema.json: %v", f, err)
		}
		// And the loader takes it as it is.
		if _, err := loadConfig(f, nil, nil); err != nil {
			t.Errorf("%s does not load: %v", f, err)
		}
	}
	t.Logf("validated %q", files)
}

func TestConfigSchemaRefusesWhatTheLoaderRefuses(t *testing.T) {
	s := compileConfigSchema(t)
	for _, doc := range []string{
		"journel: {durability: always}\n",
		"journal: {durability: sometimes}\n",
		"capabilities: {shell: {timeout: 10}}\n",
		"capabilities: {shell: {timeout: ten seconds}}\n",
		"capabilities: {shell: {timout: 10s}}\n",
		"listen: {admin_pprof: maybe}\n",
		"listen: {http3: 127.0.0.1:4433}\n",
		"execution: {max_depth: 1.5}\n",
		"log: {level: verbose}\n",
		"ipc: {peers: [{uid: -1, principal: x}]}\n",
		"auth: {tokens: [{principal: x, sha: y}]}\n",
	} {
		if err := s.Validate(yamlInstance(t, []byte(doc))); err == nil {
			t.Errorf("the schema accepts %q", doc)
		}
		if _, err := loadConfig(writeConfig(t, doc), nil, nil); err == nil {
			t.Errorf("the loader accepts %q", doc)
		}
	}
	for _, doc := range []string{
		"capabilities: {shell: {timeout: 1m30s, max_timeout: 2h}}\n",
		"ipc: {spin: 30us, peers: [{uid: 1001, principal: agent}, {gid: 0, principal: tools}]}\n",
		"listen: {admin_hosts: ~}\n",
		"telemetry: {transition_sample: 1}\n",
	} {
		if err := s.Validate(yamlInstance(t, []byte(doc))); err != nil {
			t.Errorf("the schema refuses %q: %v", doc, err)
		}
		if _, err := loadConfig(writeConfig(t, doc), nil, nil); err != nil {
			t.Errorf("the loader refuses %q: %v", doc, err)
		}
	}
}

package policy

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

// schemaFile is the published JSON Schema of the policy format.
const schemaFile = "../schema/policy.schema.json"

// keyDocs describes every key of the format, for the schema (an editor
// shows them). A key the parser knows and this table does not fails
// TestSchemaIsCurrent, so the schema cannot fall behind the parser.
var keyDocs = map[string]string{
	// The document.
	"version":      "Format version; only 1.",
	"default":      "What no rule decides; only deny (allow is rejected).",
	"groups":       "Named sets of principals (exact names or globs), used in rules as group:NAME.",
	"rules":        "Allow and deny rules. Deny overrides allow; file order decides only which rule is named.",
	"shell":        "Short form: shell.allowed_commands is one allow rule for any principal whose shell bin is in the list.",
	"capabilities": "The registry's capability map of the configuration layout; only shell.allowed_commands is read here.",
	"policy":       "The policy, when it sits under a top-level \"policy\" key beside \"capabilities\" (the configuration layout).",
	// shell / capabilities.NAME.
	"allowed_commands": "Binaries any principal may run with shell (the short form).",
	"enabled":          "Belongs to the capability registry; ignored by the policy.",
	// A rule.
	"id":                "The rule's name in decisions; default rules[i]; unique.",
	"effect":            "allow or deny.",
	"principals":        "Who the rule is for: exact names, globs (* and ?), group:NAME, or \"*\" (the default).",
	"principal":         "Same as principals (one or a list).",
	"capability":        "Same as capabilities (one or a list).",
	"args":              "Argument name to constraints; every listed constraint must hold. Arguments not named are not looked at.",
	"optional":          "The argument may be absent; when present it must satisfy the other constraints.",
	"type":              "The JSON type of the value.",
	"in":                "The value is one of these strings, numbers or booleans (numbers compared exactly).",
	"not_in":            "The value is a scalar and none of these.",
	"min_len":           "A string of at least this many characters (code points).",
	"max_len":           "A string of at most this many characters (code points).",
	"prefix":            "A string starting with one of these.",
	"not_prefix":        "A string starting with none of these.",
	"suffix":            "A string ending with one of these.",
	"not_suffix":        "A string ending with none of these.",
	"contains":          "A string containing one of these.",
	"not_contains":      "A string containing none of these.",
	"regex":             "A string matching one of these RE2 expressions (unanchored).",
	"not_regex":         "A string matching none of these RE2 expressions (unanchored).",
	"min_items":         "An array of at least this many items.",
	"max_items":         "An array of at most this many items.",
	"items":             "Constraints every array item must satisfy (optional has no meaning here).",
	"contains_item":     "An array with an item equal to one of these.",
	"not_contains_item": "An array with no item equal to any of these.",
	"range":             "[min, max]: a number within, inclusive, compared exactly; .inf / -.inf leave a side open.",
	"cidr":              "An IP literal, IP:port or [IPv6]:port inside one of these prefixes (names are never resolved).",
	"url_scheme":        "An absolute URL whose scheme is one of these.",
	"url_host":          "An absolute URL without userinfo whose host (with port if any) is one of these.",
	"path_under":        "An absolute path that is one of these directories or inside one, by whole components.",
	"path_not_under":    "An absolute path outside all of these directories, by whole components.",
	"argv_options":      "Options of an argv array read with GNU getopt_long grammar.",
	"argv_subcommand":   "The subcommand of an argv array: the first operand after the global options.",
	"item_max_len":      "Alias of items: {max_len: N}.",
	"deny_pattern":      "Alias of not_regex.",
	// argv_options / argv_subcommand.
	"takes_value": "Every option of the tool that takes a separate value (-o, --output).",
	"long":        "Every long option the tool has, to resolve abbreviations (--outp is --output).",
	"any":         "Some option is one of these.",
	"none":        "No option is one of these.",
	"only":        "Every option is one of these.",
	// Keys whose meaning depends on where they stand: CONTEXT.KEY.
	"rule.capabilities":           "What the rule covers: capability names, globs (fs.*) or \"*\". Required (or capability).",
	"argv_subcommand.takes_value": "Global options that take the next argument as their value.",
	"argv_subcommand.in":          "The subcommand is one of these.",
	"argv_subcommand.not_in":      "The subcommand is none of these (prefer in: a missing takes_value can shift it).",
}

// schemaFor returns the schema of a value of Go type t in the document;
// key is its key (for the few keys whose values the types do not say),
// ctx the mapping it is in (for descriptions).
func schemaFor(t reflect.Type, key, ctx string) map[string]any {
	var s map[string]any
	switch key {
	case "version":
		s = map[string]any{"const": 1}
	case "default":
		s = map[string]any{"const": "deny"}
	case "effect":
		s = map[string]any{"enum": []any{"allow", "deny"}}
	case "type":
		s = map[string]any{"enum": toAny(typeNames)}
	case "policy":
		s = map[string]any{"$ref": "#/$defs/document"}
	case "items":
		s = map[string]any{"$ref": "#/$defs/itemConstraints"}
	case "rules":
		s = map[string]any{"type": "array", "items": map[string]any{"$ref": "#/$defs/rule"}}
	case "args":
		s = map[string]any{"type": "object", "additionalProperties": map[string]any{
			"anyOf": []any{map[string]any{"type": "null"}, map[string]any{"$ref": "#/$defs/constraints"}}}}
	case "groups":
		s = map[string]any{"type": "object", "additionalProperties": map[string]any{"$ref": "#/$defs/strings"}}
	case "capabilities":
		if t.Kind() == reflect.Map {
			s = map[string]any{"type": "object", "additionalProperties": map[string]any{"$ref": "#/$defs/capability"}}
		}
	case "shell":
		s = map[string]any{"$ref": "#/$defs/shell"}
	case "argv_options":
		s = map[string]any{"$ref": "#/$defs/argvOptions"}
	case "argv_subcommand":
		s = map[string]any{"$ref": "#/$defs/argvSubcommand"}
	}
	if s == nil {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch t {
		case reflect.TypeFor[strList]():
			s = map[string]any{"$ref": "#/$defs/strings"}
		case reflect.TypeFor[anyList]():
			s = map[string]any{"$ref": "#/$defs/scalars"}
		case reflect.TypeFor[[]number]():
			s = map[string]any{"type": "array", "minItems": 2, "maxItems": 2, "items": map[string]any{"type": "number"}}
		default:
			switch t.Kind() {
			case reflect.String:
				s = map[string]any{"type": "string"}
			case reflect.Bool:
				s = map[string]any{"type": "boolean"}
			case reflect.Int:
				s = map[string]any{"type": "integer", "minimum": 0}
			default:
				panic("schemaFor: no schema for " + t.String() + " (" + key + ")")
			}
		}
	}
	if d := keyDocs[ctx+"."+key]; d != "" {
		s["description"] = d
	} else if d := keyDocs[key]; d != "" {
		s["description"] = d
	}
	return s
}

// objectSchema returns the schema of raw struct t: its keys, nothing else.
func objectSchema(t reflect.Type, ctx string, required ...string) map[string]any {
	props := map[string]any{}
	for _, k := range yamlKeys(t) {
		f, _ := fieldByKey(t, k)
		props[k] = schemaFor(f.Type, k, ctx)
	}
	s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if required != nil {
		s["required"] = required
	}
	return s
}

// generateSchema builds the JSON Schema of the format from the parser's
// own tables: the raw structs' keys and types.
func generateSchema() []byte {
	doc := objectSchema(reflect.TypeFor[rawDoc](), "document")
	doc["description"] = "A FemtoClaw policy document (see policy/doc.go)."
	rule := objectSchema(reflect.TypeFor[rawRule](), "rule", "effect")
	rule["description"] = "One allow or deny rule; it needs capabilities (or capability)."
	rule["anyOf"] = []any{map[string]any{"required": []any{"capabilities"}}, map[string]any{"required": []any{"capability"}}}
	cons := objectSchema(reflect.TypeFor[rawCons](), "constraints")
	cons["description"] = "Constraints on one argument; all must hold."
	s := map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"$id":         "https://github.com/femtoclaw/femtoclaw-go/schema/policy.schema.json",
		"title":       "FemtoClaw policy",
		"description": "The policy format of FemtoClaw (policy/doc.go). Generated from the parser by the policy package's tests; do not edit.",
		"$ref":        "#/$defs/document",
		"$defs": map[string]any{
			"document":    doc,
			"rule":        rule,
			"constraints": cons,
			"itemConstraints": map[string]any{
				"description": "Constraints every array item must satisfy.",
				"allOf":       []any{map[string]any{"$ref": "#/$defs/constraints"}, map[string]any{"not": map[string]any{"required": []any{"optional"}}}},
			},
			"shell":          objectSchema(reflect.TypeFor[rawShort](), "shell", "allowed_commands"),
			"capability":     objectSchema(reflect.TypeFor[rawCapConf](), "capability"),
			"argvOptions":    objectSchema(reflect.TypeFor[rawOptions](), "argv_options"),
			"argvSubcommand": objectSchema(reflect.TypeFor[rawSubcommand](), "argv_subcommand"),
			"strings": map[string]any{
				"description": "A string or a list of strings.",
				"oneOf":       []any{map[string]any{"type": "string"}, map[string]any{"type": "array", "items": map[string]any{"type": "string"}}},
			},
			"scalars": map[string]any{
				"description": "A string, number or boolean, or a list of them.",
				"oneOf": []any{map[string]any{"type": []any{"string", "number", "boolean"}},
					map[string]any{"type": "array", "items": map[string]any{"type": []any{"string", "number", "boolean"}}}},
			},
		},
	}
	out, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		panic(err)
	}
	return append(out, '\n')
}

// TestSchemaIsCurrent: schema/policy.schema.json is what the parser's
// tables generate. FEMTOCLAW_TEST_UPDATE_GOLDEN=1 rewrites it.
func TestSchemaIsCurrent(t *testing.T) {
	for _, ty := range []reflect.Type{reflect.TypeFor[rawDoc](), reflect.TypeFor[rawRule](), reflect.TypeFor[rawCons](),
		reflect.TypeFor[rawShort](), reflect.TypeFor[rawCapConf](), reflect.TypeFor[rawOptions](), reflect.TypeFor[rawSubcommand]()} {
		for _, k := range yamlKeys(ty) {
			if keyDocs[k] == "" {
				t.Errorf("key %q (%s) has no description in keyDocs", k, ty.Name())
			}
		}
	}
	want := generateSchema()
	if os.Getenv("FEMTOCLAW_TEST_UPDATE_GOLDEN") == "1" {
		if err := os.MkdirAll("../schema", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(schemaFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatalf("%v (FEMTOCLAW_TEST_UPDATE_GOLDEN=1 go test ./policy -run TestSchemaIsCurrent writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is not what the parser generates; run FEMTOCLAW_TEST_UPDATE_GOLDEN=1 go test ./policy -run TestSchemaIsCurrent", schemaFile)
	}
}

// TestSchemaConstraintNames: the schema's constraint names are the
// parser's constraint table, one for one.
func TestSchemaConstraintNames(t *testing.T) {
	var s struct {
		Defs map[string]struct {
			Properties map[string]any `json:"properties"`
		} `json:"$defs"`
	}
	data, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	var inSchema []string
	for k := range s.Defs["constraints"].Properties {
		inSchema = append(inSchema, k)
	}
	slices.Sort(inSchema)
	parser := slices.Sorted(slices.Values(ConstraintNames()))
	parser = append(parser, "optional")
	slices.Sort(parser)
	if !slices.Equal(inSchema, parser) {
		t.Fatalf("schema constraints %v\nparser constraints %v", inSchema, parser)
	}
	// And every name is one the parser accepts, and one it documents.
	doc, _ := os.ReadFile("doc.go")
	for _, name := range ConstraintNames() {
		if _, err := Parse([]byte("rules: [{effect: allow, capabilities: [x], args: {a: {" + name + ": ~}}}]")); err != nil && strings.Contains(err.Error(), "unknown key") {
			t.Errorf("%s: %v", name, err)
		}
		if !strings.Contains(string(doc), name) {
			t.Errorf("constraint %s is not in doc.go", name)
		}
	}
}

// TestSchemaValidatesRepoPolicies: every policy in the repository is
// valid under the schema, and documents the parser rejects for their
// shape are invalid under it too.
func TestSchemaValidatesRepoPolicies(t *testing.T) {
	sch := compileSchema(t)
	for _, rp := range repoPolicies(t) {
		if err := sch.Validate(instance(t, rp.data)); err != nil {
			t.Errorf("%s: %v", rp.name, err)
		}
	}
	for _, bad := range []string{
		"versoin: 1",
		"default: allow",
		"rules: [{capabilities: [x]}]",
		"rules: [{effect: allow, capabilities: [x], args: {a: {prefixx: [b]}}}]",
		"rules: [{effect: allow, capabilities: [x], args: {a: {max_len: ten}}}]",
		"rules: [{effect: allow, capabilities: [x], args: {a: {items: {optional: true}}}}]",
		"rules: [{effect: allow, capabilities: [x], args: {a: {type: str}}}]",
		"rules: [{effect: permit, capabilities: [x]}]",
		"policy: {rules: [{effect: allow, capabilities: [x], args: {a: {range: [1]}}}]}",
	} {
		if err := sch.Validate(instance(t, []byte(bad))); err == nil {
			t.Errorf("schema accepts %s", bad)
		}
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("parser accepts %s", bad)
		}
	}
}

func compileSchema(t *testing.T) *jsonschema.Schema {
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
	if err := c.AddResource("policy.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("policy.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

// instance reads a YAML document as the JSON value the schema validates
// (an infinite range bound, which JSON cannot spell, as the largest
// float64).
func instance(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	var fix func(any) any
	fix = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				x[k] = fix(e)
			}
		case []any:
			for i, e := range x {
				x[i] = fix(e)
			}
		case float64:
			if math.IsInf(x, 0) {
				return math.Copysign(math.MaxFloat64, x)
			}
		}
		return v
	}
	js, err := json.Marshal(fix(v))
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

package capability

import (
	"errors"
	"strings"
	"testing"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

func mustValue(t testing.TB, s string) protocol.Value {
	t.Helper()
	v, err := protocol.ParseValue([]byte(s), protocol.Limits{})
	if err != nil {
		t.Fatalf("ParseValue(%s): %v", s, err)
	}
	return v
}

func mustSchema(t testing.TB, s string) *Schema {
	t.Helper()
	sc, err := CompileSchema([]byte(s))
	if err != nil {
		t.Fatalf("CompileSchema(%s): %v", s, err)
	}
	return sc
}

func TestCompileSchemaErrors(t *testing.T) {
	cases := []struct{ schema, want string }{
		{`[]`, "must be an object or a boolean"},
		{`{"type":"objekt"}`, `unknown type "objekt"`},
		{`{"type":[]}`, "empty type list"},
		{`{"type":["string","string"]}`, "listed twice"},
		{`{"type":3}`, "must be a string or an array"},
		{`{"format":"uri"}`, `unknown or unsupported keyword "format"`},
		{`{"properties":{"a":{"oneOf":[]}}}`, `schema.properties.a.oneOf: unknown`},
		{`{"properties":[]}`, "must be an object"},
		{`{"required":"a"}`, "array of strings"},
		{`{"required":[1]}`, "array of strings"},
		{`{"required":["a","a"]}`, "listed twice"},
		{`{"properties":{"a":{}},"required":["b"]}`, `schema.required: "b" is not in properties`},
		{`{"properties":{"x":{"required":["b"]}}}`, `schema.properties.x.required: "b" is not in properties`},
		{`{"additionalProperties":1}`, "boolean or a schema"},
		{`{"enum":[]}`, "non-empty array"},
		{`{"enum":{}}`, "non-empty array"},
		{`{"minLength":-1}`, "non-negative integer"},
		{`{"maxLength":1.5}`, "non-negative integer"},
		{`{"minItems":"1"}`, "non-negative integer"},
		{`{"maxItems":99999999999999999999}`, "non-negative integer"},
		{`{"items":[{}]}`, "tuple form"},
		{`{"items":{"x":1}}`, `schema.items.x: unknown`},
		{`{"pattern":"("}`, "invalid RE2 pattern"},
		{`{"pattern":"(?=a)"}`, "invalid RE2 pattern"},
		{`{"pattern":1}`, "must be a string"},
		{`{"minimum":"1"}`, "must be a number"},
		{`{"exclusiveMaximum":true}`, "must be a number"},
		{`{"minLength":3,"maxLength":2}`, "minLength is above maxLength"},
		{`{"minItems":3,"maxItems":2}`, "minItems is above maxItems"},
		{`{"type":"object","type":"string"}`, "duplicate"},
		{`{"a":1`, "schema:"},
	}
	for _, c := range cases {
		_, err := CompileSchema([]byte(c.schema))
		if err == nil {
			t.Errorf("CompileSchema(%s) = nil error, want %q", c.schema, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("CompileSchema(%s) = %v, want it to contain %q", c.schema, err, c.want)
		}
		if !errors.Is(err, protocol.ErrConfiguration) {
			t.Errorf("CompileSchema(%s): %v is not a CONFIGURATION_ERROR", c.schema, err)
		}
	}
}

func TestSchemaValidate(t *testing.T) {
	cases := []struct {
		schema, value string
		want          string // "" means valid; otherwise a substring of the error
	}{
		// type
		{`{"type":"string"}`, `"x"`, ""},
		{`{"type":"string"}`, `1`, "args: expected string, got number"},
		{`{"type":"integer"}`, `12`, ""},
		{`{"type":"integer"}`, `1.0`, ""},
		{`{"type":"integer"}`, `1e3`, ""},
		{`{"type":"integer"}`, `1.5`, "expected integer, got number"},
		{`{"type":"integer"}`, `1.5e1`, ""},
		{`{"type":"integer"}`, `15e-1`, "expected integer"},
		{`{"type":"integer"}`, `123456789012345678901234567890`, ""},
		{`{"type":"number"}`, `-0.5e-3`, ""},
		{`{"type":"boolean"}`, `true`, ""},
		{`{"type":"boolean"}`, `"true"`, "expected boolean, got string"},
		{`{"type":"null"}`, `null`, ""},
		{`{"type":"null"}`, `0`, "expected null"},
		{`{"type":"array"}`, `[]`, ""},
		{`{"type":"array"}`, `{}`, "expected array, got object"},
		{`{"type":"object"}`, `{}`, ""},
		{`{"type":"object"}`, `[]`, "expected object, got array"},
		{`{"type":["string","null"]}`, `null`, ""},
		{`{"type":["string","null"]}`, `1`, "expected string or null, got number"},
		// boolean schemas and annotations
		{`true`, `{"anything":[1,2]}`, ""},
		{`false`, `1`, "no value is allowed"},
		{`{"description":"d","title":"t","$comment":"c","default":1,"examples":[1]}`, `1`, ""},
		// properties, required, additionalProperties
		{`{"type":"object","properties":{"a":{"type":"string"}}}`, `{"a":"x"}`, ""},
		{`{"type":"object","properties":{"a":{"type":"string"}}}`, `{"a":1}`, "args.a: expected string, got number"},
		{`{"type":"object","properties":{"a":{"type":"string"}}}`, `{"b":1}`, `args: unknown property "b" (additionalProperties is false)`},
		{`{"type":"object","properties":{"a":{}}}`, `{"a":{"x":1}}`, `args.a: unknown property "x"`},
		{`{"type":"object","additionalProperties":true}`, `{"b":1}`, ""},
		{`{"type":"object","additionalProperties":{"type":"integer"}}`, `{"b":1}`, ""},
		{`{"type":"object","additionalProperties":{"type":"integer"}}`, `{"b":"x"}`, "args.b: expected integer, got string"},
		{`{"type":"object","additionalProperties":{"type":"integer"}}`, `{"a b":"x"}`, `args["a b"]: expected integer`},
		{`{"type":"object","properties":{"a":{}},"required":["a"]}`, `{}`, `args: missing required property "a"`},
		{`{"type":"object","properties":{"a":{}},"required":["a"]}`, `{"a":null}`, ""},
		{`{"type":"object","required":["z"],"additionalProperties":true}`, `{"z":1}`, ""},
		{`{"type":"object","required":["z"],"additionalProperties":true}`, `{"y":1}`, `missing required property "z"`},
		{`{"properties":{"a":{},"b":{},"c":{},"d":{},"e":{},"f":{},"g":{},"h":{},"i":{},"j":{}}}`, `{"j":1,"a":2}`, ""},
		{`{"properties":{"a":{},"b":{},"c":{},"d":{},"e":{},"f":{},"g":{},"h":{},"i":{},"j":{}}}`, `{"k":1}`, `unknown property "k"`},
		// enum
		{`{"enum":["a","b"]}`, `"b"`, ""},
		{`{"enum":["a","b"]}`, `"c"`, `args: value is not one of the enum values ["a","b"]`},
		{`{"enum":[1,null,true]}`, `1.0`, ""},
		{`{"enum":[1,null,true]}`, `1e0`, ""},
		{`{"enum":[1,null,true]}`, `null`, ""},
		{`{"enum":[1,null,true]}`, `false`, "not one of the enum values"},
		{`{"enum":[[1,2],{"a":[1]}],"additionalProperties":true}`, `{"a":[1.0]}`, ""},
		{`{"enum":[[1,2],{"a":[1]}],"additionalProperties":true}`, `[1,2]`, ""},
		{`{"enum":[[1,2],{"a":[1]}],"additionalProperties":true}`, `[2,1]`, "not one of"},
		{`{"enum":[[1,2],{"a":[1]}],"additionalProperties":true}`, `{"a":[1],"b":1}`, "not one of"},
		{`{"enum":[9007199254740993]}`, `9007199254740992`, "not one of"},
		// strings: length in characters, pattern
		{`{"minLength":2}`, `"é"`, "string of 1 characters is shorter than minLength 2"},
		{`{"maxLength":2}`, `"éé"`, ""},
		{`{"minLength":1}`, `""`, "string of 0 characters is shorter than minLength 1"},
		{`{"minLength":1,"maxLength":1}`, `"é"`, ""},
		{`{"minLength":3}`, `"ab"`, "shorter than minLength 3"},
		{`{"maxLength":2}`, `"ééé"`, "string of 3 characters is longer than maxLength 2"},
		{`{"maxLength":2}`, `5`, ""},
		{`{"pattern":"^[a-z]+$"}`, `"abc"`, ""},
		{`{"pattern":"^[a-z]+$"}`, `"ab1"`, `string does not match pattern "^[a-z]+$"`},
		{`{"pattern":"b"}`, `"abc"`, ""},
		// arrays
		{`{"minItems":1}`, `[]`, "array of 0 items has fewer than minItems 1"},
		{`{"maxItems":1}`, `[1,2]`, "array of 2 items has more than maxItems 1"},
		{`{"items":{"type":"string"}}`, `["a","b"]`, ""},
		{`{"items":{"type":"string"}}`, `["a",1]`, "args[1]: expected string, got number"},
		{`{"items":{"items":{"type":"integer"}}}`, `[[1],[2,"x"]]`, "args[1][1]: expected integer"},
		{`{"items":false}`, `[]`, ""},
		{`{"items":false}`, `[1]`, "args[0]: no value"},
		// numbers: exact comparison
		{`{"minimum":1}`, `1`, ""},
		{`{"minimum":1}`, `0.999`, "0.999 violates minimum 1"},
		{`{"maximum":10}`, `10.0`, ""},
		{`{"maximum":10}`, `1e1`, ""},
		{`{"maximum":10}`, `10.000000000000000000001`, "violates maximum 10"},
		{`{"exclusiveMinimum":0}`, `0`, "violates exclusiveMinimum 0"},
		{`{"exclusiveMinimum":0}`, `-0`, "violates exclusiveMinimum 0"},
		{`{"exclusiveMinimum":0}`, `1e-400`, ""},
		{`{"exclusiveMaximum":0}`, `-1e-400`, ""},
		{`{"exclusiveMaximum":-5}`, `-5`, "violates exclusiveMaximum -5"},
		{`{"exclusiveMaximum":-5}`, `-6`, ""},
		{`{"maximum":9223372036854775807}`, `9223372036854775808`, "violates maximum"},
		{`{"maximum":9223372036854775807}`, `9223372036854775807`, ""},
		{`{"minimum":-18446744073709551616}`, `-18446744073709551617`, "violates minimum"},
		{`{"minimum":1,"maximum":1}`, `1`, ""},
		{`{"minimum":0.1}`, `0.10`, ""},
		{`{"minimum":0.1}`, `0.09999999999999999999`, "violates minimum"},
		{`{"maximum":1e999999999}`, `1e999999998`, ""},
		{`{"maximum":100}`, `"200"`, ""},
		// numbers past float64: 2^53 + 1 is not 2^53
		{`{"maximum":9007199254740992}`, `9007199254740993`, "9007199254740993 violates maximum 9007199254740992"},
		{`{"maximum":9007199254740992}`, `9007199254740992`, ""},
		{`{"minimum":9007199254740993}`, `9007199254740992`, "9007199254740992 violates minimum 9007199254740993"},
		{`{"minimum":9007199254740993}`, `9.007199254740993e15`, ""},
		{`{"exclusiveMaximum":9007199254740993}`, `9007199254740992`, ""},
		{`{"enum":[9007199254740992]}`, `9007199254740993`, "not one of the enum values [9007199254740992]"},
		{`{"enum":[9007199254740992]}`, `9007199254740992.0`, ""},
		{`{"enum":[9007199254740993]}`, `9007199254740993`, ""},
		{`{"type":"integer"}`, `9007199254740993.5`, "expected integer, got number"},
		// an exponent too long to compare exactly is refused
		{`{"type":"number"}`, `1e1000000000000000000`, "invalid number"},
		{`{"type":"number"}`, `1e999999999999999999`, ""},
		// nested paths
		{`{"type":"object","properties":{"argv":{"type":"array","items":{"type":"string"}}}}`, `{"argv":["a","b",3]}`, "args.argv[2]: expected string, got number"},
	}
	for _, c := range cases {
		s := mustSchema(t, c.schema)
		err := s.Validate(mustValue(t, c.value))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("schema %s value %s: unexpected error %v", c.schema, c.value, err)
		case c.want != "" && err == nil:
			t.Errorf("schema %s value %s: valid, want error %q", c.schema, c.value, c.want)
		case c.want != "" && !strings.Contains(err.Error(), c.want):
			t.Errorf("schema %s value %s: error %q, want it to contain %q", c.schema, c.value, err, c.want)
		}
		if err != nil {
			var pe *protocol.Error
			if !errors.As(err, &pe) || pe.Category != protocol.CategoryProtocol || pe.Reason != protocol.ReasonInvalidArguments {
				t.Errorf("schema %s value %s: error %#v is not PROTOCOL_ERROR/invalid_arguments", c.schema, c.value, err)
			}
		}
	}
}

func builtinSchemas(t testing.TB) map[string]*Schema {
	caps, err := Builtins(BuiltinConfig{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*Schema{}
	for _, c := range caps {
		out[c.Name()] = mustSchema(t, string(c.Schema()))
	}
	return out
}

func TestValidateZeroAllocs(t *testing.T) {
	schemas := builtinSchemas(t)
	cases := []struct{ cap, args string }{
		{"noop", `{}`},
		{"echo", `{}`},
		{"echo", `{"text":"héllo, world"}`},
		{"shell", `{"bin":"echo","argv":["-n","a; rm -rf /","$(id)","` + "`id`" + `","x","y","z","1","2","3","4","5","6","7","8","9"]}`},
		{"fs.read", `{"path":"a/b.txt"}`},
		{"http.get", `{"url":"https://example.com/"}`},
	}
	for _, c := range cases {
		s, v := schemas[c.cap], mustValue(t, c.args)
		if err := s.Validate(v); err != nil {
			t.Fatalf("%s %s: %v", c.cap, c.args, err)
		}
		if n := testing.AllocsPerRun(200, func() { _ = s.Validate(v) }); n != 0 {
			t.Errorf("%s: Validate allocates %.1f times per run, want 0", c.cap, n)
		}
	}
	// Every keyword at once, valid.
	s := mustSchema(t, `{"type":"object","properties":{"n":{"type":"integer","minimum":-5,"exclusiveMaximum":1e30},`+
		`"e":{"enum":["x",1,[true]]},"p":{"type":"string","pattern":"^[a-z]+$","minLength":1,"maxLength":9},`+
		`"a":{"type":"array","minItems":1,"maxItems":3,"items":{"type":["number","null"]}}},"required":["n"],`+
		`"additionalProperties":{"type":"boolean"}}`)
	v := mustValue(t, `{"n":123456789012345678901234567,"e":[true],"p":"abc","a":[1.5,null],"extra":false}`)
	if err := s.Validate(v); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(200, func() { _ = s.Validate(v) }); n != 0 {
		t.Errorf("all keywords: Validate allocates %.1f times per run, want 0", n)
	}
}

func FuzzSchemaValidate(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"bin":"echo","argv":["a"]}`, `{"bin":1}`, `{"argv":[1,2,{}]}`, `[]`, `null`, `1e999999`,
		`{"n":-0.0e-0,"e":[true]}`, `{"bin":"","argv":[]}`, `"x"`, `{"p":"é","a":[null,1e-9]}`,
	} {
		f.Add([]byte(seed))
	}
	shell := mustSchema(f, string((&Shell{}).Schema()))
	all := mustSchema(f, `{"type":"object","properties":{"n":{"type":"integer","minimum":-5,"exclusiveMaximum":1e30},`+
		`"e":{"enum":["x",1,[true],{"k":null}]},"p":{"type":"string","pattern":"^[a-z]+$","minLength":1,"maxLength":9},`+
		`"a":{"type":"array","minItems":1,"maxItems":3,"items":{"type":["number","null"]}}},"required":["n"],`+
		`"additionalProperties":{"type":"boolean"}}`)
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := protocol.ParseValue(data, protocol.Limits{})
		if err != nil {
			return
		}
		for _, s := range []*Schema{shell, all} {
			if err := s.Validate(v); err != nil {
				var pe *protocol.Error
				if !errors.As(err, &pe) || pe.Reason != protocol.ReasonInvalidArguments || !strings.HasPrefix(pe.Message, "args") {
					t.Fatalf("bad error %v", err)
				}
			}
		}
	})
}

func BenchmarkValidateSchema(b *testing.B) {
	s := mustSchema(b, string((&Shell{}).Schema()))
	v := mustValue(b, `{"bin":"ls","argv":["-l","-a","--color=never","/var/log"]}`)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Validate(v); err != nil {
			b.Fatal(err)
		}
	}
}

package yamlerr

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"go.yaml.in/yaml/v3"
)

// decodeErr is the error of decoding every document of data.
func decodeErr(t *testing.T, data string) error {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader([]byte(data)))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			t.Fatalf("%q decodes", data)
		}
		if err != nil {
			return err
		}
	}
}

func TestLocate(t *testing.T) {
	for _, tc := range []struct {
		data string
		line int
		msg  string
	}{
		// The parser's problems: yaml.v3 says line 2, 1, 1, 1, 2, 6 for these.
		{"version: 1\nrules:\n  - id: r\n    effect: allow\n   capabilities: [echo]\n", 3,
			"did not find expected '-' indicator (in the list that starts on this line)"},
		{"log:\n  level: info\n  - x\n", 2, "did not find expected key (in the mapping that starts on this line)"},
		{"a: 1\n- b\n", 2, "did not find expected key (in the mapping that starts on line 1)"},
		{"journal:\n  durability: always\n sync_interval: 1s\n", 3, "did not find expected key (in the mapping that starts on line 1)"},
		{"version: 1\nrules:\n  - {id: r, effect: allow,\n     capabilities: [echo]\n  - x\n", 3,
			"did not find expected ',' or '}' (in the { } mapping that starts on this line)"},
		{"a:\n  b: [1,\n  2\nc: 1\n", 2, "did not find expected ',' or ']' (in the [ ] list that starts on this line)"},
		{"a: [1, 2\nb: 3\n", 2, "did not find expected ',' or ']' (in the [ ] list that starts on line 1)"},
		{"journal: {durability: always\n", 1, "did not find expected ',' or '}' at the end of the input (in the { } mapping that starts on this line)"},
		{"journal: {durability: [}\n", 1, "did not find expected node content"},
		{"log: {level: info}\n\njournal: {durability: [}\n", 3, "did not find expected node content"},
		{"\n\n\na: {\n", 4, "did not find expected node content at the end of the input"},
		{"a: b\n---\nc: [\n", 3, "did not find expected node content at the end of the input"},
		// The scanner's: yaml.v3's line is right.
		{"log: {level: info}\njournal:\n\tdurability: always\n", 3, "found character that cannot start any token"},
		{"a: 1\nb: 2\n  c: 3\n", 3, "mapping values are not allowed in this context"},
		{"a: \"abc\n", 1, "found unexpected end of stream"},
		// No line from yaml.v3.
		{"a: b\nc: [*nope]\n", 2, "unknown anchor 'nope' referenced"},
		// The bytes themselves: yaml.v3 gives no line.
		{"log: {level: info}\njournal:\n  durability: alw\xffays\n", 3, "invalid leading UTF-8 octet (the text must be UTF-8)"},
		{"a: 1\n# \xe2\x82\n", 2, "invalid trailing UTF-8 octet (the text must be UTF-8)"},
		{"log: {level: info}\n\njournal: {durability: alw\x01ays}\n", 3, "control characters are not allowed"},
		// A byte order mark.
		{"\ufeffa: 1\n- b\n", 2, "did not find expected key (in the mapping that starts on line 1)"},
	} {
		line, msg := Locate([]byte(tc.data), decodeErr(t, tc.data))
		if line != tc.line || msg != tc.msg {
			t.Errorf("%q:\n got %d: %s\nwant %d: %s", tc.data, line, msg, tc.line, tc.msg)
		}
	}
}

func TestLocateOtherErrors(t *testing.T) {
	if line, msg := Locate([]byte("a: 1\n"), errors.New("something else")); line != 1 || msg != "something else" {
		t.Fatalf("%d %q", line, msg)
	}
}

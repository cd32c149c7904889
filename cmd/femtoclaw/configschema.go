package main

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// The configuration's JSON Schema (draft 2020-12), for editors that
// validate YAML: generated from the key table, so it has exactly the
// keys, types and enumerations the loader has; its descriptions are the
// comments of the embedded default.yaml, its defaults that file's
// values. schema/config.schema.json is this output, and a test fails
// when the two differ. `femtoclaw config --schema` prints it.
//
// The schema is a little stricter than the loader, which also reads a
// number as a string key's text (run_as: 1000) and YAML 1.1's yes/no as
// booleans.

// durationPattern is the text time.ParseDuration reads.
const durationPattern = `^[-+]?(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$`

// configSchema returns the schema as indented JSON.
func configSchema() []byte {
	t := keyTable()
	defaults, _ := resolveConfig("", nil, nil)
	docs := defaultDocs()
	root := sectionSchema(t.root, reflect.ValueOf(defaults).Elem(), docs)
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["title"] = "FemtoClaw configuration"
	root["description"] = "The configuration of the femtoclaw runtime (femtoclaw serve --config FILE). " +
		"Every key is optional: the embedded defaults (cmd/femtoclaw/default.yaml) fill the rest. " +
		"Each key can also be set by a FEMTOCLAW_<PATH> variable or --set path=value; `femtoclaw check` validates a configuration."
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(root); err != nil {
		panic("config schema: " + err.Error())
	}
	return b.Bytes()
}

// sectionSchema describes struct key k; v is its default value (invalid
// inside records, which have no defaults).
func sectionSchema(k *configKey, v reflect.Value, docs map[string]string) map[string]any {
	props := map[string]any{}
	for _, c := range k.children {
		var f reflect.Value
		if v.IsValid() {
			f = c.field(v)
		}
		var s map[string]any
		switch c.kind {
		case keySection:
			s = sectionSchema(c, f, docs)
		case keyRecords:
			s = map[string]any{"type": []string{"array", "null"}, "items": sectionSchema(c, reflect.Value{}, docs)}
		case keyLeaf:
			s = leafSchema(c)
			if f.IsValid() {
				s["default"] = defaultValue(c, f)
			}
		}
		d := docs[c.path]
		if c.env != "" {
			if d != "" && !strings.HasSuffix(d, ".") {
				d += "."
			}
			d = strings.TrimSpace(d + " Variable: " + c.env + ".")
		}
		if d != "" {
			s["description"] = d
		}
		props[c.name] = s
	}
	return map[string]any{"type": "object", "additionalProperties": false, "properties": props}
}

// leafSchema is the schema of a scalar or list key.
func leafSchema(k *configKey) map[string]any {
	t := k.typ
	switch {
	case len(k.enum) > 0:
		return map[string]any{"type": "string", "enum": k.enum}
	case t == durationType:
		return map[string]any{"type": "string", "pattern": durationPattern}
	case t.Kind() == reflect.Bool:
		return map[string]any{"type": "boolean"}
	case t.Kind() == reflect.Pointer:
		return map[string]any{"type": "integer", "minimum": 0, "maximum": uint64(1)<<t.Elem().Bits() - 1}
	case t.Kind() == reflect.Int || t.Kind() == reflect.Int64:
		return map[string]any{"type": "integer"}
	case t.Kind() == reflect.Float64:
		return map[string]any{"type": "number"}
	case t.Kind() == reflect.Slice:
		return map[string]any{"type": []string{"array", "null"}, "items": map[string]any{"type": "string"}}
	}
	return map[string]any{"type": "string"}
}

// defaultValue is f as JSON: durations as their text.
func defaultValue(k *configKey, f reflect.Value) any {
	if f.Type() == durationType {
		return formatDuration(time.Duration(f.Int()))
	}
	if f.Kind() == reflect.Slice && f.Len() == 0 {
		return []string{}
	}
	if k.secret != "" && !f.IsZero() {
		return nil
	}
	return f.Interface()
}

// defaultDocs returns the comments of the embedded default.yaml by key
// path: what a key's line and the lines above it say.
func defaultDocs() map[string]string {
	var doc yaml.Node
	if err := yaml.Unmarshal(defaultConfigYAML, &doc); err != nil || len(doc.Content) == 0 {
		return nil
	}
	docs := map[string]string{}
	var walk func(n *yaml.Node, prefix string, top bool)
	walk = func(n *yaml.Node, prefix string, top bool) {
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			kn, vn := n.Content[i], n.Content[i+1]
			path := kn.Value
			if prefix != "" {
				path = prefix + "." + kn.Value
			}
			head := kn.HeadComment
			if top && i == 0 {
				head = "" // the file's own header
			}
			var parts []string
			for _, c := range []string{head, kn.LineComment, vn.LineComment} {
				if c = cleanComment(c); c != "" {
					parts = append(parts, c)
				}
			}
			docs[path] = strings.Join(parts, " ")
			walk(vn, path, false)
		}
	}
	walk(doc.Content[0], "", true)
	return docs
}

// cleanComment joins a YAML comment's lines without their '#'.
func cleanComment(c string) string {
	var words []string
	for line := range strings.SplitSeq(c, "\n") {
		if line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "#")); line != "" {
			words = append(words, line)
		}
	}
	return strings.Join(words, " ")
}

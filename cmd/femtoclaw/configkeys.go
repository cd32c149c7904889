package main

import (
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
)

// The configuration's keys, derived once from the Config struct by
// reflection: the one table that the file decoder, the FEMTOCLAW_*
// variables, --set, `femtoclaw config` and the JSON Schema all read, so
// none of them can know a key the others do not.

// keyKind says what a key holds.
type keyKind uint8

const (
	keySection keyKind = iota // a struct: a mapping of keys
	keyLeaf                   // a scalar or a list of scalars
	keyRecords                // a list of records (auth.tokens, ipc.peers): set in a file only
)

// configKey is one key of the configuration.
type configKey struct {
	name     string       // the YAML key: "root"
	path     string       // dotted from the top: "capabilities.fs.read.root"; a record's keys: "auth.tokens[].principal"
	env      string       // the variable that sets a leaf: FEMTOCLAW_CAPABILITIES_FS_READ_ROOT ("" for others)
	kind     keyKind      //
	index    []int        // the field, from the parent struct (through inline fields)
	typ      reflect.Type // the field's type
	enum     []string     // the only values a string key takes (tag enum)
	secret   string       // its values are secret material (tag secret): "values"; "unless-sha256", secret unless a SHA-256 in hex
	children []*configKey // a section's keys, or a record's
	parent   *configKey
}

// child returns the key named name directly below k, or nil.
func (k *configKey) child(name string) *configKey {
	for _, c := range k.children {
		if c.name == name {
			return c
		}
	}
	return nil
}

// childNames lists the names of k's keys, in struct order.
func (k *configKey) childNames() []string {
	names := make([]string, len(k.children))
	for i, c := range k.children {
		names[i] = c.name
	}
	return names
}

// firstLeaf returns the first key at or below section k that holds a
// value (what a variable or --set sets): capabilities →
// capabilities.noop.enabled.
func (k *configKey) firstLeaf() *configKey {
	for k.kind == keySection && len(k.children) > 0 {
		k = k.children[0]
	}
	return k
}

// field returns k's field in the value of its parent struct.
func (k *configKey) field(parent reflect.Value) reflect.Value { return parent.FieldByIndex(k.index) }

// configKeys is the table: the root (the Config struct itself), every
// key by path, every leaf in struct order, and the leaves by variable.
type configKeys struct {
	root   *configKey
	byPath map[string]*configKey
	leaves []*configKey
	byEnv  map[string]*configKey
	envs   []string // every variable, in struct order (for suggestions)
}

var keyTable = sync.OnceValue(func() *configKeys {
	t := &configKeys{root: &configKey{kind: keySection, typ: reflect.TypeFor[Config]()},
		byPath: map[string]*configKey{}, byEnv: map[string]*configKey{}}
	t.root.children = t.walk(t.root, t.root.typ, nil, "", false)
	return t
})

// walk builds the keys of struct type st below parent. inRecord is set
// below a list of records, whose keys no variable sets.
func (t *configKeys) walk(parent *configKey, st reflect.Type, index []int, prefix string, inRecord bool) []*configKey {
	var out []*configKey
	for i := range st.NumField() {
		sf := st.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		idx := append(slices.Clone(index), i)
		if opts == "inline" {
			out = append(out, t.walk(parent, sf.Type, idx, prefix, inRecord)...)
			continue
		}
		k := &configKey{name: name, path: name, index: idx, typ: sf.Type, parent: parent, kind: keyLeaf,
			secret: sf.Tag.Get("secret")}
		if prefix != "" {
			k.path = prefix + "." + name
		}
		if e := sf.Tag.Get("enum"); e != "" {
			k.enum = strings.Split(e, ",")
		}
		switch {
		case sf.Type.Kind() == reflect.Struct:
			k.kind = keySection
			k.children = t.walk(k, sf.Type, nil, k.path, inRecord)
		case sf.Type.Kind() == reflect.Slice && sf.Type.Elem().Kind() == reflect.Struct:
			k.kind = keyRecords
			k.children = t.walk(k, sf.Type.Elem(), nil, k.path+"[]", true)
		case !inRecord:
			k.env = envName(k.path)
			t.leaves = append(t.leaves, k)
			t.byEnv[k.env] = k
			t.envs = append(t.envs, k.env)
		}
		if !inRecord {
			t.byPath[k.path] = k
		}
		out = append(out, k)
	}
	return out
}

// value returns k's field in cfg. k is a key outside records.
func (k *configKey) value(cfg *Config) reflect.Value {
	var chain []*configKey
	for c := k; c.parent != nil; c = c.parent {
		chain = append(chain, c)
	}
	v := reflect.ValueOf(cfg).Elem()
	for i := len(chain) - 1; i >= 0; i-- {
		v = chain[i].field(v)
	}
	return v
}

// envName maps a key to its environment variable:
// capabilities.fs.read.root → FEMTOCLAW_CAPABILITIES_FS_READ_ROOT.
func envName(path string) string {
	return envPrefix + strings.ToUpper(strings.NewReplacer(".", "_").Replace(path))
}

// The environment: every FEMTOCLAW_* variable sets a key, except these.
const (
	envPrefix = "FEMTOCLAW_"
	// envConfigFile names the configuration file (what --config names).
	envConfigFile = "FEMTOCLAW_CONFIG"
)

// envIgnoredPrefixes are the test and benchmark harness's variables
// (FEMTOCLAW_TEST_UPDATE_GOLDEN, FEMTOCLAW_BENCH_DIR…): not configuration,
// so they are neither applied nor refused.
var envIgnoredPrefixes = []string{"FEMTOCLAW_TEST_", "FEMTOCLAW_BENCH_"}

var durationType = reflect.TypeFor[time.Duration]()

package policy

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// FormatWidth is the line width Format wraps flow lists at.
const FormatWidth = 100

// Format returns a policy document in its canonical layout, the one
// `femtoclaw policy fmt` writes:
//
//   - the keys of every mapping the format defines in one order: the
//     document's as version, default, groups, rules, shell, capabilities,
//     policy; a rule's as id, effect, principals, capabilities, args; a
//     constraint map's in the order the constraints are documented (type,
//     optional, in, not_in, min_len, …). Names the author chose (groups,
//     arguments, capabilities) keep their order;
//   - two-space indentation; the document, its groups, rules and each
//     block rule's args in block style; what was written in flow style
//     below that ({in: [ls]}, [a, b]) stays so, and flow lists longer than
//     FormatWidth are wrapped after a comma, aligned under their first
//     item;
//   - comments and the blank lines that separate blocks are kept.
//
// The result compiles to the same policy (the same Hash) and holds the
// same comments, and formatting it again changes nothing; Format checks
// the first two and returns an error rather than a document that would
// differ. A document that does not parse is returned as its *ParseError.
func Format(data []byte) ([]byte, error) {
	p, _, perr := parse(data)
	if perr != nil {
		return nil, perr
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err // parse accepted it: not reached
	}
	lines := strings.Split(string(data), "\n")
	markBlankLines(&doc, lines)
	if len(doc.Content) == 1 {
		root := doc.Content[0]
		// A document written in flow style (JSON) is written as YAML:
		// its rules too are block style.
		f := &formatter{flowDoc: root.Style&yaml.FlowStyle != 0}
		f.canonical(root, reflect.TypeFor[rawDoc](), true)
	}
	plain := keepPlain(&doc, data)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("policy: format: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("policy: format: %w", err)
	}
	text := b.String()
	for i := len(plain) - 1; i >= 0; i-- { // from the end: token 1 is a prefix of token 10
		text = strings.ReplaceAll(text, plainToken(i), plain[i])
	}
	out := wrapFlow(text, FormatWidth)

	p2, _, perr := parse([]byte(out))
	if perr != nil {
		return nil, fmt.Errorf("policy: format: the formatted document does not parse (%v); the document is left as it is", perr)
	}
	if p2.Hash() != p.Hash() {
		return nil, fmt.Errorf("policy: format: the formatted document compiles differently; the document is left as it is")
	}
	if a, b := comments(data), comments([]byte(out)); !slices.Equal(a, b) {
		return nil, fmt.Errorf("policy: format: a comment would move out of the document (YAML cannot hold it where it is); the document is left as it is")
	}
	return []byte(out), nil
}

// canonical puts the keys of node n, which decodes into t, in the
// format's order, recursively, and writes the document's structure in
// block style: the document, groups, rules, capabilities, and the args of
// a block rule — each when its parent is block style (inBlock), since
// nothing inside a flow collection can be block style.
func (f *formatter) canonical(n *yaml.Node, t reflect.Type, inBlock bool) {
	if n.Kind == yaml.AliasNode {
		return // formatted where its anchor is
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case reflect.TypeFor[rawRule]():
		if !f.flowDoc {
			break // a rule written on one line stays so
		}
		fallthrough
	case reflect.TypeFor[rawDoc](), reflect.TypeFor[[]rawRule](), reflect.TypeFor[map[string]strList](), reflect.TypeFor[map[string]rawCapConf]():
		if inBlock && (n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode) {
			n.Style &^= yaml.FlowStyle
		}
	}
	if n.Kind == yaml.MappingNode && (isRaw(t) || t.Kind() == reflect.Map) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			plainKey(n.Content[i])
		}
	}
	block := n.Style&yaml.FlowStyle == 0
	switch {
	case isRaw(t) && n.Kind == yaml.MappingNode:
		order := yamlKeys(t)
		rank := func(k *yaml.Node) int {
			if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
				return -1
			}
			return slices.Index(order, k.Value)
		}
		pairs := make([][2]*yaml.Node, 0, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			pairs = append(pairs, [2]*yaml.Node{n.Content[i], n.Content[i+1]})
		}
		slices.SortStableFunc(pairs, func(a, b [2]*yaml.Node) int { return rank(a[0]) - rank(b[0]) })
		n.Content = n.Content[:0]
		for _, p := range pairs {
			n.Content = append(n.Content, p[0], p[1])
			field, ok := fieldByKey(t, p[0].Value)
			if !ok {
				continue
			}
			if t == reflect.TypeFor[rawRule]() && p[0].Value == "args" && block && p[1].Kind == yaml.MappingNode {
				p[1].Style &^= yaml.FlowStyle
			}
			f.canonical(p[1], field.Type, block)
		}
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			f.canonical(n.Content[i], t.Elem(), block)
		}
	case t.Kind() == reflect.Slice && isRaw(t.Elem()) && n.Kind == yaml.SequenceNode:
		for _, c := range n.Content {
			f.canonical(c, t.Elem(), block)
		}
	}
}

// formatter holds what canonical needs to know of the whole document.
type formatter struct {
	flowDoc bool // the document is written in flow style (JSON)
}

// plainKey writes a quoted key that is a plain name (version, bin,
// fs.read) without quotes: keys are read as their text, so this changes
// nothing but the look.
func plainKey(k *yaml.Node) {
	if k.Kind != yaml.ScalarNode || k.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0 || k.Value == "" {
		return
	}
	for i, c := range k.Value {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || i > 0 && (c >= '0' && c <= '9' || c == '.' || c == '-')) {
			return
		}
	}
	switch strings.ToLower(k.Value) {
	case "true", "false", "yes", "no", "on", "off", "null", "y", "n":
		return
	}
	k.Style &^= yaml.DoubleQuotedStyle | yaml.SingleQuotedStyle
}

// fieldByKey returns the field of struct t whose yaml tag is key.
func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); tag == key {
			return t.Field(i), true
		}
	}
	return reflect.StructField{}, false
}

// markBlankLines keeps a blank line in front of every key or list item
// that had one (before its comments), by starting its head comment with
// an empty line, which is how yaml.v3 writes one.
func markBlankLines(n *yaml.Node, lines []string) {
	blankBefore := func(c *yaml.Node) bool {
		first := c.Line - strings.Count(c.HeadComment, "\n")
		if c.HeadComment != "" {
			first--
		}
		return first >= 2 && first-2 < len(lines) && strings.TrimSpace(lines[first-2]) == ""
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; i > 0 && blankBefore(k) && !strings.HasPrefix(k.HeadComment, "\n") {
				k.HeadComment = "\n" + k.HeadComment
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if i > 0 && c.Kind != yaml.AliasNode && blankBefore(c) && !strings.HasPrefix(c.HeadComment, "\n") {
				c.HeadComment = "\n" + c.HeadComment
			}
		}
	}
	if n.Style&yaml.FlowStyle != 0 {
		return // no blank lines inside flow collections
	}
	for _, c := range n.Content {
		if c.Kind != yaml.AliasNode {
			markBlankLines(c, lines)
		}
	}
}

// plainPrefix starts the stand-ins keepPlain writes.
const plainPrefix = "zzfcplain"

func plainToken(i int) string { return plainPrefix + strconv.Itoa(i) + "zz" }

// keepPlain replaces every plain scalar that holds ':', '#' or '?' with
// a stand-in token, and returns the values to put back: yaml.v3 quotes
// such scalars inside flow collections ([group:ops] would become
// ['group:ops']) though YAML reads them plain there, as the document
// did. It does nothing when the document holds the stand-ins' prefix.
func keepPlain(doc *yaml.Node, data []byte) []string {
	if bytes.Contains(data, []byte(plainPrefix)) {
		return nil
	}
	var vals []string
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode && n.Style == 0 && strings.ContainsAny(n.Value, ":#?") && !strings.ContainsAny(n.Value, "\n\"'") {
			vals = append(vals, n.Value)
			n.Value, n.Tag = plainToken(len(vals)-1), "!!str"
		}
		if n.Kind != yaml.AliasNode {
			for _, c := range n.Content {
				walk(c)
			}
		}
	}
	walk(doc)
	return vals
}

// comments returns the text of every comment in a YAML document, sorted:
// what Format must not lose.
func comments(data []byte) []string {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil {
		return nil
	}
	var out []string
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		for _, c := range []string{n.HeadComment, n.LineComment, n.FootComment} {
			for l := range strings.SplitSeq(c, "\n") {
				if l = strings.TrimSpace(l); l != "" {
					out = append(out, l)
				}
			}
		}
		if n.Kind != yaml.AliasNode {
			for _, c := range n.Content {
				walk(c)
			}
		}
	}
	walk(&doc)
	slices.Sort(out)
	return out
}

// wrapFlow breaks every line of text longer than width inside a flow
// collection after a comma, indenting the continuations under the first
// item of the first collection the line opens. Breaks are never made
// inside a quoted string or a comment; a line that cannot be broken, or
// would not get shorter, is kept.
func wrapFlow(text string, width int) string {
	var b strings.Builder
	for line := range strings.SplitSeq(strings.TrimSuffix(text, "\n"), "\n") {
		if strings.TrimLeft(line, " ") == "" {
			line = "" // yaml.v3 indents the blank lines it writes
		}
		if len(line) <= width {
			b.WriteString(line)
			b.WriteByte('\n')
			continue
		}
		cuts, indent := flowBreaks(line)
		start, lead := 0, 0 // the current output line is lead spaces + line[start:cut]
		for len(line)-start+lead > width {
			best := -1
			for _, c := range cuts {
				if c <= start || c <= indent {
					continue
				}
				if c-start+lead <= width || best < 0 {
					best = c
				}
				if c-start+lead > width {
					break
				}
			}
			if best < 0 || indent+len(line)-best >= len(line)-start+lead {
				break
			}
			b.WriteString(strings.Repeat(" ", lead))
			b.WriteString(strings.TrimRight(line[start:best], " "))
			b.WriteByte('\n')
			start, lead = best+1, indent // past the comma's space
		}
		b.WriteString(strings.Repeat(" ", lead))
		b.WriteString(line[start:])
		b.WriteByte('\n')
	}
	return b.String()
}

// flowBreaks returns the places line may be broken at (just after a ", "
// inside a flow collection, outside quotes and comments) and the column
// under the first item of the first collection it opens.
func flowBreaks(line string) (cuts []int, indent int) {
	indent = -1
	depth := 0
	scalarStart := true // the next non-space character starts a scalar (or key)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ':
			continue
		case scalarStart && (c == '\'' || c == '"'):
			i = endOfQuoted(line, i)
			scalarStart = false
			continue
		case c == '#' && i > 0 && line[i-1] == ' ':
			return cuts, indent // a comment
		case c == '[' || c == '{':
			if indent < 0 {
				indent = i + 1
			}
			depth++
			scalarStart = true
			continue
		case c == ']' || c == '}':
			depth--
		case c == ',' && depth > 0:
			if i+1 < len(line) && line[i+1] == ' ' {
				cuts = append(cuts, i+1)
			}
			scalarStart = true
			continue
		case c == ':' && (i+1 == len(line) || line[i+1] == ' '):
			scalarStart = true
			continue
		case c == '-' && (i+1 == len(line) || line[i+1] == ' ') && depth == 0:
			scalarStart = true
			continue
		}
		scalarStart = false
	}
	return cuts, indent
}

// endOfQuoted returns the index of the quote that closes the quoted
// scalar starting at line[i].
func endOfQuoted(line string, i int) int {
	q := line[i]
	for j := i + 1; j < len(line); j++ {
		switch {
		case q == '"' && line[j] == '\\':
			j++
		case line[j] == q && q == '\'' && j+1 < len(line) && line[j+1] == '\'':
			j++
		case line[j] == q:
			return j
		}
	}
	return len(line)
}

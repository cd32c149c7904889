// Package yamlerr places a syntax error of go.yaml.in/yaml/v3 on the line
// it concerns, for the messages that cite FILE:LINE (the configuration
// file, policies, policy test files).
//
// yaml.v3 reports "yaml: line N: problem", but N does not always mean the
// same thing: for a scanner's problem it is the 1-based line of the
// problem; for a parser's problem it is the 0-based line where the mapping
// or list being parsed starts, unless that is the first line of the
// input, in which case it is the 0-based line of the problem itself (a
// mark on line 0 counts as no mark). Read as a 1-based line, a parser's
// problem is then one line early, or names a line that is neither the
// problem's nor the collection's.
//
// Locate decodes the input once more behind one blank line, which moves
// every mark off line 0, so a parser's N is always the 1-based line of
// the collection (or of the problem, for a problem without a
// collection), and a scanner's is one more than the problem's line.
//
//	line, msg := yamlerr.Locate(data, err) // 3, "did not find expected key (in the mapping that starts on line 1)"
//
// Safe for concurrent use.
package yamlerr

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

var lineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// collection says, for the parser's problems that yaml.v3 places at the
// start of the collection being parsed, which collection that is.
var collection = map[string]string{
	"did not find expected key":           "the mapping",
	"did not find expected '-' indicator": "the list",
	"did not find expected ',' or ']'":    "the [ ] list",
	"did not find expected ',' or '}'":    "the { } mapping",
}

// parserProblems are the parser's problems (the others with a line are
// the scanner's).
var parserProblems = map[string]bool{
	"did not find expected key": true, "did not find expected '-' indicator": true,
	"did not find expected ',' or ']'": true, "did not find expected ',' or '}'": true,
	"did not find expected node content": true, "found undefined tag handle": true,
	"did not find expected <document start>": true, "did not find expected <stream-start>": true,
	"found duplicate %TAG directive": true, "found duplicate %YAML directive": true,
	"found incompatible YAML document": true,
}

var unknownAnchorRE = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)

// Locate returns the 1-based line that err, an error yaml.v3 returned
// while decoding data (with Unmarshal or a Decoder), concerns, and its
// message without the "yaml: line N: " prefix. For a problem yaml.v3
// places at the start of a mapping or list, the line is the problem's
// when it can be known (the collection starts on the first line) and the
// collection's otherwise, and the message says which: "did not find
// expected key (in the mapping that starts on line 1)", "… (in the
// mapping that starts on this line)". A problem past the last line is
// placed on the last line, "at the end of the input". The line is 1 when
// nothing better is known.
func Locate(data []byte, err error) (int, string) {
	s := err.Error()
	msg := strings.TrimPrefix(s, "yaml: ")
	reported := 0 // yaml.v3's N; 0 for none, which it also gives for a mark on line 0
	if m := lineRE.FindStringSubmatch(s); m != nil {
		msg = m[2]
		reported, _ = strconv.Atoi(m[1])
	} else if a := unknownAnchorRE.FindStringSubmatch(msg); a != nil {
		return aliasLine(data, a[1]), msg
	} else if bad := readerProblems[msg]; bad != nil {
		if strings.Contains(msg, "UTF-8") {
			msg += " (the text must be UTF-8)"
		}
		return badByteLine(data, bad), msg
	} else if !parserProblems[msg] {
		return 1, msg
	}
	shifted, ok := shiftedLine(data, msg)
	line, starts := 0, 0 // starts: the line of the collection the problem is in, when known
	switch {
	case !parserProblems[msg]: // the scanner's: N is 1-based
		line = max(reported, 1)
		if ok {
			line = shifted
		}
	case !ok:
		line = reported + 1
	case collection[msg] != "" && shifted == 1:
		// The collection starts on line 1, a mark yaml.v3 does not
		// report, so N is the problem's own (0-based) line.
		line, starts = reported+1, 1
	default:
		line, starts = shifted, shifted
	}
	c := collection[msg]
	if n := lineCount(data); line > n {
		line = max(n, 1)
		msg += " at the end of the input"
	}
	if c != "" && starts > 0 {
		where := "on this line"
		if starts != line {
			where = "on line " + strconv.Itoa(starts)
		}
		msg += " (in " + c + " that starts " + where + ")"
	}
	return line, msg
}

// shiftedLine decodes data behind a blank line and returns the 1-based
// line of data that the same problem msg is reported at.
func shiftedLine(data []byte, msg string) (int, bool) {
	if bytes.HasPrefix(data, []byte{0xfe, 0xff}) || bytes.HasPrefix(data, []byte{0xff, 0xfe}) {
		return 0, false // UTF-16: a byte in front would hide the byte order mark
	}
	dec := yaml.NewDecoder(io.MultiReader(strings.NewReader("\n"), bytes.NewReader(data)))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return 0, false
		}
		if err == nil {
			continue
		}
		m := lineRE.FindStringSubmatch(err.Error())
		if m == nil || m[2] != msg {
			return 0, false
		}
		l, _ := strconv.Atoi(m[1])
		if !parserProblems[msg] {
			l-- // the scanner counts from 1, and the blank line is one more
		}
		return max(l, 1), true
	}
}

// readerProblems are yaml.v3's problems with the bytes themselves, which
// it reports with no line, and what each finds wrong with a rune (and its
// encoded size).
var readerProblems = map[string]func(r rune, size int) bool{
	"invalid leading UTF-8 octet":     badUTF8,
	"invalid trailing UTF-8 octet":    badUTF8,
	"incomplete UTF-8 octet sequence": badUTF8,
	"control characters are not allowed": func(r rune, size int) bool {
		switch {
		case r == '\t' || r == '\n' || r == '\r' || r == 0x85 || badUTF8(r, size):
			return false
		case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f, r == 0xfffe, r == 0xffff:
			return true
		}
		return false
	},
}

func badUTF8(r rune, size int) bool { return r == utf8.RuneError && size <= 1 }

// badByteLine is the line of the first rune of data that bad finds wrong.
func badByteLine(data []byte, bad func(rune, int) bool) int {
	line := 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if bad(r, size) {
			return line
		}
		if r == '\n' {
			line++
		}
		i += max(size, 1)
	}
	return 1
}

// aliasLine is the line of the first *name in data (yaml.v3 gives none
// for an alias to an anchor that is not defined).
func aliasLine(data []byte, name string) int {
	for i, l := range bytes.Split(data, []byte("\n")) {
		if j := bytes.Index(l, []byte("*"+name)); j >= 0 {
			end := j + 1 + len(name)
			if end == len(l) || strings.ContainsRune(" \t\r,]}#", rune(l[end])) {
				return i + 1
			}
		}
	}
	return 1
}

// lineCount is the number of lines of data (a last line without a
// newline counts).
func lineCount(data []byte) int {
	n := bytes.Count(data, []byte("\n"))
	if len(data) > 0 && data[len(data)-1] != '\n' {
		n++
	}
	return n
}

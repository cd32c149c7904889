package policy

import (
	"path"
	"strings"
)

// compilePath compiles path_under and path_not_under: component-wise
// containment of an absolute slash-separated path. The value is cleaned
// lexically first (path.Clean: "." and ".." resolved, "//" collapsed,
// a trailing "/" dropped) — the pipeline hands the policy canonical paths
// already, and this keeps a rule correct on any other path argument too.
// "/project/secret" is under "/project/secret" and not under
// "/project/secrets"; a relative value is neither under nor not under
// anything (both fail).
func compilePath(b *consBuilder, rc *rawCons) *docErr {
	for _, pc := range []struct {
		key string
		l   strList
		neg bool
	}{{"path_under", rc.PathUnder, false}, {"path_not_under", rc.PathNotUnder, true}} {
		if !pc.l.set {
			continue
		}
		if err := nonEmpty(b.where, pc.key, pc.l); err != nil {
			return err
		}
		dirs := make([]string, len(pc.l.vals))
		for i, d := range pc.l.vals {
			if !strings.HasPrefix(d, "/") {
				return errAt(pc.l.elem(i), "%s.%s[%d]: %q is not an absolute path", b.where, pc.key, i, d)
			}
			dirs[i] = path.Clean(d)
		}
		q, neg := quoteList(dirs), pc.neg
		fail := "is not an absolute path under one of " + q
		if neg {
			fail = "is not an absolute path outside all of " + q
		}
		b.add(pc.key+" "+q, fail, strCheck(func(s string) bool {
			if !strings.HasPrefix(s, "/") {
				return false
			}
			return pathUnderAny(path.Clean(s), dirs) != neg
		}))
	}
	return nil
}

// pathUnderAny reports whether clean absolute path p is one of dirs or
// inside one, by whole components.
func pathUnderAny(p string, dirs []string) bool {
	for _, d := range dirs {
		if d == "/" || p == d || strings.HasPrefix(p, d) && p[len(d)] == '/' {
			return true
		}
	}
	return false
}

// Package suggest finds the word a user probably meant: the "did you
// mean" of every FemtoClaw error that names an unknown key, variable,
// capability, constraint or command.
//
//	suggest.Closest("journel", []string{"journal", "policy"})  // "journal"
//	suggest.Closest("Shell", []string{"shell"})                // "shell" (case differs only)
//	suggest.Closest("zzz", []string{"journal"})                // "" (nothing is close)
//
// Closeness is the optimal-string-alignment distance (insertions,
// deletions, substitutions and swaps of two neighbours, each costing 1),
// compared without regard to case. A candidate is offered when its
// distance is at most 1 for words of up to four letters and at most 2
// for longer ones; among several, the nearest wins and ties go to the
// candidate listed first. Inputs longer than 128 bytes are never matched
// (they are not typos, and the cost is quadratic).
package suggest

import "strings"

// maxLen bounds the quadratic comparison.
const maxLen = 128

// Closest returns the candidate word most likely meant, or "".
func Closest(word string, candidates []string) string {
	if word == "" || len(word) > maxLen {
		return ""
	}
	low := strings.ToLower(word)
	best, bestD := "", -1
	for _, c := range candidates {
		if c == word {
			continue
		}
		if len(c) > maxLen {
			continue
		}
		if strings.EqualFold(c, word) {
			return c
		}
		limit := 2
		if min(len(c), len(word)) <= 4 {
			limit = 1
		}
		if d := Distance(low, strings.ToLower(c)); d <= limit && (bestD < 0 || d < bestD) {
			best, bestD = c, d
		}
	}
	return best
}

// Hint is Closest formatted for an error message: ` (did you mean "x"?)`,
// or "" when nothing is close.
func Hint(word string, candidates []string) string {
	if c := Closest(word, candidates); c != "" {
		return ` (did you mean "` + c + `"?)`
	}
	return ""
}

// Distance is the optimal-string-alignment edit distance between a and
// b, counted in bytes.
func Distance(a, b string) int {
	if len(a) < len(b) {
		a, b = b, a
	}
	// Three rows: two back (for swaps), previous, current.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

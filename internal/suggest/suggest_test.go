package suggest

import "testing"

func TestClosest(t *testing.T) {
	keys := []string{"journal", "policy", "durability", "sync_interval", "shell", "fs.read", "max_len"}
	for _, tc := range []struct{ word, want string }{
		{"journel", "journal"},
		{"durabilty", "durability"},
		{"durabiltiy", "durability"},
		{"Shell", "shell"},
		{"shel", "shell"},
		{"polcy", "policy"},
		{"fs_read", "fs.read"},
		{"maxlen", "max_len"},
		{"sync_intervl", "sync_interval"},
		{"zzz", ""},
		{"journal", ""}, // the word itself is not a suggestion
		{"", ""},
		{"xy", ""},
	} {
		if got := Closest(tc.word, keys); got != tc.want {
			t.Errorf("Closest(%q) = %q, want %q", tc.word, got, tc.want)
		}
	}
}

func TestClosestPrefersNearest(t *testing.T) {
	if got := Closest("abcdx", []string{"abxyz", "abcde"}); got != "abcde" {
		t.Fatalf("got %q, want the candidate at distance 1", got)
	}
}

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		d    int
	}{
		{"", "", 0}, {"a", "", 1}, {"", "abc", 3}, {"abc", "abc", 0},
		{"abc", "acb", 1}, {"kitten", "sitting", 3}, {"ca", "abc", 3},
	} {
		if got := Distance(tc.a, tc.b); got != tc.d {
			t.Errorf("Distance(%q,%q) = %d, want %d", tc.a, tc.b, got, tc.d)
		}
		if got := Distance(tc.b, tc.a); got != tc.d {
			t.Errorf("Distance(%q,%q) = %d, want %d (symmetric)", tc.b, tc.a, got, tc.d)
		}
	}
}

func TestHint(t *testing.T) {
	if got := Hint("journel", []string{"journal"}); got != ` (did you mean "journal"?)` {
		t.Fatalf("Hint = %q", got)
	}
	if got := Hint("zzz", []string{"journal"}); got != "" {
		t.Fatalf("Hint = %q, want empty", got)
	}
}

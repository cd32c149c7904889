package protocol

import (
	"encoding/json"
	"math/big"
	"strconv"
	"strings"
	"testing"
)

func TestCompareDecimal(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		// Spelling does not matter.
		{"0", "-0", 0}, {"0.0", "0e5", 0}, {"-0.0e-3", "0", 0}, {"1", "1.000", 0}, {"1.0", "1", 0},
		{"100", "1e2", 0}, {"100", "1E+2", 0}, {"1e2", "10e1", 0}, {"0.01", "1e-2", 0},
		{"12.5", "1.25e1", 0}, {"1e007", "10000000", 0}, {"-1.50", "-15e-1", 0},
		// Order.
		{"1", "2", -1}, {"-1", "-2", 1}, {"-1", "1", -1}, {"0", "1e-999", -1}, {"0", "-1e-999", 1},
		{"99", "100", -1}, {"0.5", "0.05", 1}, {"1e10", "9999999999", 1}, {"-1e10", "-9999999999", -1},
		{"0.1", "0.10000000000000001", -1}, {"1.5", "1.49999999999999999999", 1},
		// Past float64: 2^53 + 1 is not 2^53.
		{"9007199254740993", "9007199254740992", 1}, {"-9007199254740993", "-9007199254740992", -1},
		{"9007199254740993", "9.007199254740993e15", 0}, {"9007199254740993.0", "9007199254740993", 0},
		{"123456789012345678901234567890", "123456789012345678901234567891", -1},
		{"1e308", "1e309", -1}, {"1e400", "1e399", 1}, {"-1e400", "1e-400", -1},
		{"1e999999999999999999", "1e999999999999999998", 1}, // largest exponents accepted
		{"1e-999999999999999999", "0", 1},
	} {
		got, ok := CompareDecimal(c.a, c.b)
		if !ok || got != c.want {
			t.Errorf("CompareDecimal(%s, %s) = %d, %v; want %d, true", c.a, c.b, got, ok, c.want)
		}
		if got, ok := CompareDecimal(c.b, c.a); !ok || got != -c.want {
			t.Errorf("CompareDecimal(%s, %s) = %d, %v; want %d, true", c.b, c.a, got, ok, -c.want)
		}
	}
}

func TestParseDecimalRejects(t *testing.T) {
	for _, bad := range []string{
		"", "-", "+1", "1.", ".5", "-.5", "01", "-01", "00", "1e", "1e+", "1e-", "e1", "x", "1x",
		" 1", "1 ", "NaN", "Inf", "-Inf", "0x10", "1_000", "1.2.3", "1e2e3", "--1", "١",
		"1e1000000000000000000", // 19 exponent digits
	} {
		if _, ok := ParseDecimal(bad); ok {
			t.Errorf("ParseDecimal(%q) ok", bad)
		}
		if c, ok := CompareDecimal(bad, "1"); ok || c != 0 {
			t.Errorf("CompareDecimal(%q, 1) = %d, %v; want 0, false", bad, c, ok)
		}
	}
	// Leading zeros in the exponent are not significant.
	if _, ok := ParseDecimal("1e0000000000000000000000000001"); !ok {
		t.Error("exponent with leading zeros rejected")
	}
}

func TestDecimalIsInteger(t *testing.T) {
	for s, want := range map[string]bool{
		"0": true, "-0": true, "0.0": true, "1": true, "1.0": true, "1e2": true, "1.5e1": true,
		"1.25e1": false, "1.5": false, "1e-1": false, "100e-2": true, "101e-2": false,
		"9007199254740993": true, "9007199254740993.5": false, "1e400": true, "1e-400": false,
	} {
		d, ok := ParseDecimal(s)
		if !ok || d.IsInteger() != want {
			t.Errorf("ParseDecimal(%q).IsInteger() = %v (ok %v), want %v", s, d.IsInteger(), ok, want)
		}
	}
}

// TestDecimalZeroValue: the zero Decimal is 0, and safe to use.
func TestDecimalZeroValue(t *testing.T) {
	var z Decimal
	one, _ := ParseDecimal("1")
	mz, _ := ParseDecimal("-0.0")
	if !z.IsZero() || !z.IsInteger() || z.Cmp(&one) != -1 || one.Cmp(&z) != 1 || z.Cmp(&mz) != 0 {
		t.Error("the zero Decimal is not 0")
	}
	if d, ok := ParseDecimal("1x"); ok || !d.IsZero() {
		t.Errorf("a failed ParseDecimal gives %+v, %v; want the zero Decimal", d, ok)
	}
}

// TestCompareDecimalAllocs pins the comparison at zero allocations.
func TestCompareDecimalAllocs(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { CompareDecimal("9007199254740993", "9.007199254740992e15") }); n != 0 {
		t.Errorf("CompareDecimal allocates %v times, want 0", n)
	}
}

// ratOf is the slow, obviously exact reference: math/big.Rat reads JSON
// number syntax exactly. ok is false for exponents too large to expand.
func ratOf(s string) (*big.Rat, bool) {
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		if e, err := strconv.Atoi(s[i+1:]); err != nil || e > 2000 || e < -2000 {
			return nil, false
		}
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}

// checkAgainstRat compares CompareDecimal with big.Rat on a, b, which must
// both be accepted by ParseDecimal and have modest exponents.
func checkAgainstRat(t *testing.T, a, b string) {
	t.Helper()
	ra, ok1 := ratOf(a)
	rb, ok2 := ratOf(b)
	if !ok1 || !ok2 {
		return
	}
	got, ok := CompareDecimal(a, b)
	if want := ra.Cmp(rb); !ok || got != want {
		t.Fatalf("CompareDecimal(%q, %q) = %d, %v; big.Rat says %d", a, b, got, ok, want)
	}
	da, _ := ParseDecimal(a)
	if want := ra.IsInt(); da.IsInteger() != want {
		t.Fatalf("ParseDecimal(%q).IsInteger() = %v; big.Rat says %v", a, da.IsInteger(), want)
	}
}

// TestCompareDecimalDifferential checks a deterministic sweep of literals,
// every spelling against every other, against big.Rat.
func TestCompareDecimalDifferential(t *testing.T) {
	var lits []string
	for _, mant := range []string{"0", "1", "9", "10", "12", "125", "9007199254740992", "9007199254740993", "1.5", "0.001", "12.50", "99.999"} {
		for _, exp := range []string{"", "e0", "e1", "e-1", "e2", "E-3", "e+16", "e-16", "e300", "e-300"} {
			lits = append(lits, mant+exp, "-"+mant+exp)
		}
	}
	for _, a := range lits {
		for _, b := range lits {
			checkAgainstRat(t, a, b)
		}
	}
	// And float64's neighbours of 2^53 written as big.Float prints them.
	f := new(big.Float).SetPrec(200)
	for i := int64(-3); i <= 3; i++ {
		f.SetInt64(1 << 53)
		f.Add(f, new(big.Float).SetInt64(i))
		a := f.Text('f', -1)
		b := f.Text('e', 40)
		checkAgainstRat(t, a, b)
		checkAgainstRat(t, a, "9007199254740992")
	}
}

// FuzzCompareDecimal: on any pair of strings, CompareDecimal never panics,
// agrees with big.Rat whenever both are JSON numbers, and is antisymmetric.
func FuzzCompareDecimal(f *testing.F) {
	for _, s := range [][2]string{
		{"0", "-0"}, {"1.0", "1"}, {"1e2", "100"}, {"9007199254740993", "9007199254740992"},
		{"-12.5e-3", "-0.0125"}, {"123456789012345678901234567890.5", "1.2e29"}, {"1e", "1"}, {"01", "1"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		c, ok := CompareDecimal(a, b)
		c2, ok2 := CompareDecimal(b, a)
		if ok != ok2 || c != -c2 {
			t.Fatalf("CompareDecimal not antisymmetric on %q, %q: %d %v / %d %v", a, b, c, ok, c2, ok2)
		}
		_, okA := ParseDecimal(a)
		_, okB := ParseDecimal(b)
		for _, s := range []string{a, b} {
			_, got := ParseDecimal(s)
			if want := isJSONNumber(s); got != want {
				t.Fatalf("ParseDecimal(%q) ok = %v, encoding/json says %v", s, got, want)
			}
		}
		if ok != (okA && okB) {
			t.Fatalf("CompareDecimal(%q, %q) ok = %v, ParseDecimal says %v, %v", a, b, ok, okA, okB)
		}
		if !ok {
			return
		}
		checkAgainstRat(t, a, b)
		if c, _ := CompareDecimal(a, a); c != 0 {
			t.Fatalf("CompareDecimal(%q, itself) = %d", a, c)
		}
	})
}

// isJSONNumber is encoding/json's grammar, with ParseDecimal's bound on the
// exponent.
func isJSONNumber(s string) bool {
	if s == "" || s[0] != '-' && (s[0] < '0' || s[0] > '9') || !json.Valid([]byte(s)) {
		return false
	}
	if strings.ContainsAny(s, " \t\r\n") {
		return false // json.Valid allows surrounding space
	}
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e := strings.TrimLeft(strings.TrimLeft(s[i+1:], "+-"), "0")
		return len(e) <= MaxDecimalExponentDigits
	}
	return true
}

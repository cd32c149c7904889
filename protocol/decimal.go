package protocol

// Decimal is an exact view of a JSON number literal. It is the one number
// comparison of the project: the capability argument schema (enum, const,
// minimum, maximum and their exclusive forms, integer) and the policy's
// constraints (in, not_in, contains_item, range, type integer) all compare
// through it, so a number means the same thing to both. Converting to
// float64 would round big integers (9007199254740993 would equal
// 9007199254740992) and long fractions.
//
// A Decimal keeps the literal and the positions of its parts; parsing and
// comparing never allocate. Values compare by what they denote, not by
// spelling: -0 == 0, 1.0 == 1, 1e2 == 100, 12.5 == 1.25E1.
//
// The literal's digits d0 d1 … (integer part then fraction part, the dot
// removed) stand for 0.d0d1… × 10^(intLen+exp). Leading and trailing zero
// digits are not significant; [first, end) indexes the significant ones.
//
// The zero Decimal is 0. A Decimal is a plain value, safe to copy and to
// share between goroutines.
type Decimal struct {
	s            string
	intA, intB   int // integer digits s[intA:intB]
	fracA, fracB int // fraction digits s[fracA:fracB] (empty when none)
	exp          int64
	neg          bool
	first, end   int // significant digits [first, end) of the digit sequence; empty when zero
}

// MaxDecimalExponentDigits bounds the exponent of a literal ParseDecimal
// accepts: at most 18 digits after leading zeros (|exponent| < 10^18), so
// every magnitude is exact in int64. A literal beyond it (a number with more
// than a quintillion zeros) is not compared; ParseDecimal reports !ok, and
// callers fail closed on it, as on any literal they cannot read.
const MaxDecimalExponentDigits = 18

// ParseDecimal reads s, which must be a JSON number literal (RFC 8259 §6):
// an optional minus, an integer part without leading zeros, an optional
// fraction, an optional exponent. ok is false for anything else — including
// "+1", ".5", "1.", "01", "NaN" and surrounding space — and for exponents
// of more than MaxDecimalExponentDigits digits. It never panics.
func ParseDecimal(s string) (d Decimal, ok bool) {
	d.s = s
	i := 0
	if i < len(s) && s[i] == '-' {
		d.neg = true
		i++
	}
	d.intA = i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	d.intB = i
	if n := d.intB - d.intA; n == 0 || n > 1 && s[d.intA] == '0' {
		return Decimal{}, false
	}
	d.fracA, d.fracB = i, i
	if i < len(s) && s[i] == '.' {
		i++
		d.fracA = i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		d.fracB = i
		if d.fracB == d.fracA {
			return Decimal{}, false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		if i == len(s) {
			return Decimal{}, false
		}
		var e int64
		digits := 0
		for i < len(s) && isDigit(s[i]) {
			if e != 0 || s[i] != '0' {
				if digits++; digits > MaxDecimalExponentDigits {
					return Decimal{}, false
				}
			}
			e = e*10 + int64(s[i]-'0')
			i++
		}
		if eneg {
			e = -e
		}
		d.exp = e
	}
	if i != len(s) {
		return Decimal{}, false
	}
	d.first, d.end = 0, d.ndigits()
	for d.first < d.end && d.digit(d.first) == 0 {
		d.first++
	}
	for d.end > d.first && d.digit(d.end-1) == 0 {
		d.end--
	}
	return d, true
}

// CompareDecimal compares two JSON number literals by value: c is -1, 0 or
// +1 as a < b, a == b, a > b, exactly. ok is false (and c 0) when either is
// not a literal ParseDecimal accepts.
func CompareDecimal(a, b string) (c int, ok bool) {
	da, ok1 := ParseDecimal(a)
	db, ok2 := ParseDecimal(b)
	if !ok1 || !ok2 {
		return 0, false
	}
	return da.Cmp(&db), true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// String returns the literal as it was written.
func (d *Decimal) String() string { return d.s }

func (d *Decimal) ndigits() int { return d.intB - d.intA + d.fracB - d.fracA }

func (d *Decimal) digit(k int) byte {
	if n := d.intB - d.intA; k < n {
		return d.s[d.intA+k] - '0'
	} else {
		return d.s[d.fracA+k-n] - '0'
	}
}

// IsZero reports whether d is zero (0, -0, 0.000, 0e7).
func (d *Decimal) IsZero() bool { return d.first == d.end }

// magnitude is the power of ten just above the leading significant digit.
func (d *Decimal) magnitude() int64 { return int64(d.intB-d.intA) + d.exp - int64(d.first) }

// IsInteger reports whether d has no fractional part (1.0, 1e2 and
// 1.5e1 are integers; 1.5 and 1e-1 are not).
func (d *Decimal) IsInteger() bool {
	if d.IsZero() {
		return true
	}
	return int64(d.intB-d.intA)+d.exp-int64(d.end) >= 0
}

// Cmp returns -1, 0 or +1 as d < e, d == e, d > e, exactly.
func (d *Decimal) Cmp(e *Decimal) int {
	dz, ez := d.IsZero(), e.IsZero()
	switch {
	case dz && ez:
		return 0
	case dz:
		if e.neg {
			return 1
		}
		return -1
	case ez:
		if d.neg {
			return -1
		}
		return 1
	case d.neg != e.neg:
		if d.neg {
			return -1
		}
		return 1
	}
	c := cmpMagnitude(d, e)
	if d.neg {
		return -c
	}
	return c
}

func cmpMagnitude(a, b *Decimal) int {
	if ma, mb := a.magnitude(), b.magnitude(); ma != mb {
		if ma < mb {
			return -1
		}
		return 1
	}
	i, j := a.first, b.first
	for i < a.end || j < b.end {
		var x, y byte
		if i < a.end {
			x = a.digit(i)
		}
		if j < b.end {
			y = b.digit(j)
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
		i++
		j++
	}
	return 0
}

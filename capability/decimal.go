package capability

// decimal is an exact view of a JSON number literal, used to compare
// numbers against schema bounds and enum members without converting to
// float64 (which would round big integers) and without allocating.
//
// The literal's digits d0 d1 … (integer part then fraction part, the dot
// removed) stand for 0.d0d1… × 10^(intLen+exp). Leading and trailing zero
// digits are not significant; first/last index the significant ones.
type decimal struct {
	s            string
	intA, intB   int // integer digits s[intA:intB]
	fracA, fracB int // fraction digits s[fracA:fracB] (empty when none)
	exp          int64
	neg          bool
	first, last  int // significant digits, indexes into the digit sequence; first > last when zero
}

const expLimit = 1 << 40 // saturate exponents far beyond any literal length

// parseDecimal reads a literal already known to match the JSON number
// grammar. ok is false when it does not (defensive: never panics).
func parseDecimal(s string) (d decimal, ok bool) {
	d.s = s
	i := 0
	if i < len(s) && s[i] == '-' {
		d.neg = true
		i++
	}
	d.intA = i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	d.intB = i
	if d.intB == d.intA {
		return d, false
	}
	d.fracA, d.fracB = i, i
	if i < len(s) && s[i] == '.' {
		i++
		d.fracA = i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		d.fracB = i
		if d.fracB == d.fracA {
			return d, false
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
			return d, false
		}
		var e int64
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if e < expLimit {
				e = e*10 + int64(s[i]-'0')
			}
			i++
		}
		if eneg {
			e = -e
		}
		d.exp = e
	}
	if i != len(s) {
		return d, false
	}
	n := d.ndigits()
	d.first, d.last = 0, n-1
	for d.first < n && d.digit(d.first) == 0 {
		d.first++
	}
	for d.last >= d.first && d.digit(d.last) == 0 {
		d.last--
	}
	return d, true
}

func (d *decimal) ndigits() int { return d.intB - d.intA + d.fracB - d.fracA }

func (d *decimal) digit(k int) byte {
	if n := d.intB - d.intA; k < n {
		return d.s[d.intA+k] - '0'
	} else {
		return d.s[d.fracA+k-n] - '0'
	}
}

func (d *decimal) isZero() bool { return d.first > d.last }

// magnitude is the power of ten just above the leading significant digit.
func (d *decimal) magnitude() int64 { return int64(d.intB-d.intA) + d.exp - int64(d.first) }

// isInteger reports whether the value has no fractional part.
func (d *decimal) isInteger() bool {
	if d.isZero() {
		return true
	}
	return int64(d.intB-d.intA)+d.exp-1-int64(d.last) >= 0
}

// cmpDecimal returns -1, 0 or +1 as a <, ==, > b, exactly.
func cmpDecimal(a, b *decimal) int {
	az, bz := a.isZero(), b.isZero()
	switch {
	case az && bz:
		return 0
	case az:
		if b.neg {
			return 1
		}
		return -1
	case bz:
		if a.neg {
			return -1
		}
		return 1
	case a.neg != b.neg:
		if a.neg {
			return -1
		}
		return 1
	}
	c := cmpMagnitude(a, b)
	if a.neg {
		return -c
	}
	return c
}

func cmpMagnitude(a, b *decimal) int {
	if ma, mb := a.magnitude(), b.magnitude(); ma != mb {
		if ma < mb {
			return -1
		}
		return 1
	}
	i, j := a.first, b.first
	for i <= a.last || j <= b.last {
		var x, y byte
		if i <= a.last {
			x = a.digit(i)
		}
		if j <= b.last {
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

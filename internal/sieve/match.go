package sieve

// globToken is one element of a :matches pattern.
type globToken struct {
	r    rune
	kind byte // 'c' literal, '?' one character, '*' any sequence
	wild int  // index of the wildcard among the pattern's wildcards
}

func compileGlob(pattern string, fold bool) []globToken {
	var toks []globToken
	wild := 0
	rs := []rune(pattern)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch {
		case c == '\\' && i+1 < len(rs):
			i++
			toks = append(toks, globToken{r: foldRune(rs[i], fold), kind: 'c'})
		case c == '*' || c == '?':
			toks = append(toks, globToken{kind: byte(c), wild: wild})
			wild++
		default:
			toks = append(toks, globToken{r: foldRune(c, fold), kind: 'c'})
		}
	}
	return toks
}

func foldRune(r rune, fold bool) rune {
	if fold && r >= 'A' && r <= 'Z' {
		return r + 'a' - 'A'
	}
	return r
}

// globMatch matches value against a :matches pattern (RFC 5228 §2.7.1:
// "*" any sequence, "?" one character, "\" quotes) and returns what each
// wildcard matched, in order (RFC 5229 §3.2 match variables). It runs in
// O(len(pattern)·len(value)): on a mismatch only the last "*" grows, so
// earlier stars match as little as possible.
func globMatch(pattern, value string, fold bool) ([]string, bool) {
	p := compileGlob(pattern, fold)
	s := []rune(value)
	nw := 0
	for _, t := range p {
		if t.kind != 'c' {
			nw++
		}
	}
	caps := make([][2]int, nw)
	pi, si := 0, 0
	starP, starS := -1, -1
	for si < len(s) {
		switch {
		case pi < len(p) && p[pi].kind == '*':
			starP, starS = pi, si
			caps[p[pi].wild] = [2]int{si, si}
			pi++
		case pi < len(p) && (p[pi].kind == '?' || p[pi].r == foldRune(s[si], fold)):
			if p[pi].kind == '?' {
				caps[p[pi].wild] = [2]int{si, si + 1}
			}
			pi++
			si++
		case starP >= 0:
			starS++
			caps[p[starP].wild][1] = starS
			pi, si = starP+1, starS
		default:
			return nil, false
		}
	}
	for pi < len(p) && p[pi].kind == '*' {
		caps[p[pi].wild] = [2]int{si, si}
		pi++
	}
	if pi != len(p) {
		return nil, false
	}
	out := make([]string, nw)
	for i, c := range caps {
		out[i] = string(s[c[0]:c[1]])
	}
	return out, true
}

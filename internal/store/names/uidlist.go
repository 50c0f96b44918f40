package names

import (
	"errors"
	"slices"
)

// ParseUIDList parses a comma-separated list of UIDs, as both SQL backends
// aggregate a mailbox's UIDs into one text value (far cheaper than a row
// per message through database/sql), and returns them ascending. n is
// the expected count (a capacity hint).
func ParseUIDList(list string, n int) ([]uint32, error) {
	out := make([]uint32, 0, n)
	var v uint32
	digits := false
	for i := 0; i < len(list); i++ {
		c := list[i]
		if c == ',' {
			if digits {
				out = append(out, v)
			}
			v, digits = 0, false
			continue
		}
		if c < '0' || c > '9' {
			return nil, errors.New("bad uid list")
		}
		v = v*10 + uint32(c-'0')
		digits = true
	}
	if digits {
		out = append(out, v)
	}
	// The aggregate keeps its input's order in practice; make sure.
	if !slices.IsSorted(out) {
		slices.Sort(out)
	}
	return out, nil
}

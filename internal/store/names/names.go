// Package names holds the rules every store backend applies to domain
// names and addresses, mailbox
// names (RFC 9051 §5.1), message flags (RFC 9051 §2.3.2) and UID sets, so
// that the backends agree on them exactly.
package names

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"pochta/internal/store"
)

// MaxLen is the longest mailbox name accepted, in bytes.
const MaxLen = 1000

// Norm validates a mailbox name and returns it with a first level of
// "inbox" (any case) spelled "INBOX" (RFC 9051 §5.1: INBOX is
// case-insensitive).
func Norm(name string) (string, error) {
	if name == "" || len(name) > MaxLen || !utf8.ValidString(name) {
		return "", fmt.Errorf("%w: %q", store.ErrInvalidName, Truncate(name))
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return "", fmt.Errorf("%w: control character", store.ErrInvalidName)
		}
	}
	levels := strings.Split(name, store.Delimiter)
	for _, l := range levels {
		if l == "" || l == "." || l == ".." {
			return "", fmt.Errorf("%w: %q", store.ErrInvalidName, Truncate(name))
		}
	}
	if strings.EqualFold(levels[0], "INBOX") {
		levels[0] = "INBOX"
	}
	return strings.Join(levels, store.Delimiter), nil
}

func Truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// Parents returns the superior names of name, outermost first.
func Parents(name string) []string {
	var out []string
	for i := 0; i < len(name); i++ {
		if name[i] == store.Delimiter[0] {
			out = append(out, name[:i])
		}
	}
	return out
}

// SystemFlags are the IMAP system flags a message can carry, in canonical
// spelling (RFC 9051 §2.3.2). \Recent is session state and never stored.
var SystemFlags = []string{`\Answered`, `\Deleted`, `\Draft`, `\Flagged`, `\Seen`}

// NormFlags canonicalises system flags, keeps keywords as given, drops
// duplicates (case-insensitively), empty or unstorable flags and \Recent,
// and sorts the result.
func NormFlags(flags []string) []string {
	out := make([]string, 0, len(flags))
	seen := make(map[string]bool, len(flags))
next:
	for _, f := range flags {
		if f == "" || strings.EqualFold(f, `\Recent`) {
			continue
		}
		for _, r := range f {
			if r <= ' ' || r == 0x7f {
				continue next
			}
		}
		for _, sf := range SystemFlags {
			if strings.EqualFold(f, sf) {
				f = sf
				break
			}
		}
		k := strings.ToLower(f)
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// ApplyFlags computes the new flag list of a message.
func ApplyFlags(cur []string, op store.FlagOp, flags []string) []string {
	switch op {
	case store.FlagsAdd:
		return NormFlags(append(append([]string{}, cur...), flags...))
	case store.FlagsRemove:
		rm := map[string]bool{}
		for _, f := range flags {
			rm[strings.ToLower(f)] = true
		}
		out := make([]string, 0, len(cur))
		for _, f := range cur {
			if !rm[strings.ToLower(f)] {
				out = append(out, f)
			}
		}
		return out
	default:
		return NormFlags(flags)
	}
}

func JoinFlags(f []string) string { return strings.Join(f, " ") }

func SplitFlags(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, " ")
}

func HasFlag(flags []string, flag string) bool {
	for _, f := range flags {
		if f == flag {
			return true
		}
	}
	return false
}

func SameFlags(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// UIDFilter is a normalised UIDSet: sorted, merged, inclusive ranges with
// explicit upper bounds.
type UIDFilter struct {
	All    bool             // every UID
	Ranges []store.UIDRange // otherwise these
}

func NewUIDFilter(set store.UIDSet) UIDFilter {
	if set == nil {
		return UIDFilter{All: true}
	}
	rs := make([]store.UIDRange, 0, len(set))
	for _, r := range set {
		a, b := r.Start, r.Stop
		if b == 0 {
			b = ^uint32(0)
		}
		if a > b {
			a, b = b, a
		}
		rs = append(rs, store.UIDRange{Start: a, Stop: b})
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].Start < rs[j].Start })
	var merged []store.UIDRange
	for _, r := range rs {
		if n := len(merged); n > 0 && uint64(r.Start) <= uint64(merged[n-1].Stop)+1 {
			if r.Stop > merged[n-1].Stop {
				merged[n-1].Stop = r.Stop
			}
			continue
		}
		merged = append(merged, r)
	}
	return UIDFilter{Ranges: merged}
}

// Empty reports whether the filter matches no UID.
func (f UIDFilter) Empty() bool { return !f.All && len(f.Ranges) == 0 }

// Bounds returns the smallest and largest UID the filter can contain.
func (f UIDFilter) Bounds() (uint32, uint32) {
	if f.All || len(f.Ranges) == 0 {
		return 0, ^uint32(0)
	}
	return f.Ranges[0].Start, f.Ranges[len(f.Ranges)-1].Stop
}

// Contains reports whether uid is in the filter.
func (f UIDFilter) Contains(uid uint32) bool {
	if f.All {
		return true
	}
	i := sort.Search(len(f.Ranges), func(i int) bool { return f.Ranges[i].Stop >= uid })
	return i < len(f.Ranges) && f.Ranges[i].Start <= uid
}

// Domain lower-cases and checks a domain name.
func Domain(name string) (string, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" || len(name) > 253 || strings.ContainsAny(name, "@ \t\r\n/\\\"") {
		return "", fmt.Errorf("%w: bad domain %q", store.ErrInvalidName, Truncate(name))
	}
	return name, nil
}

// Address lower-cases and checks an address, returning its domain.
func Address(addr string) (string, string, error) {
	addr = strings.ToLower(strings.TrimSpace(addr))
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 || len(addr) > 320 || strings.ContainsAny(addr, " \t\r\n<>") {
		return "", "", fmt.Errorf("%w: bad address %q", store.ErrInvalidName, Truncate(addr))
	}
	dom, err := Domain(addr[at+1:])
	if err != nil {
		return "", "", err
	}
	return addr, dom, nil
}

// MaxStateValue bounds a store.ServerState value.
const MaxStateValue = 1 << 20

// CheckState refuses a store.ServerState name that is empty, longer than
// 255 bytes, not UTF-8 or holds control characters, and a value over
// MaxStateValue.
func CheckState(name string, value []byte) error {
	if name == "" || len(name) > 255 || !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("%w: bad state name %q", store.ErrInvalidName, Truncate(name))
	}
	if len(value) > MaxStateValue {
		return fmt.Errorf("%w: state %q over %d bytes", store.ErrInvalidName, name, MaxStateValue)
	}
	return nil
}

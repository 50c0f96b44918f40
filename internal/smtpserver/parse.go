package smtpserver

import (
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"

	"pochta/internal/envelope"
	"pochta/internal/reply"
)

// Size limits of RFC 5321 §4.5.3.1.
const (
	maxLocalPart = 64
	maxDomain    = 255
	maxPath      = 256
	maxEnvID     = 100 // RFC 3461 §4.4
	maxORcpt     = 500 // RFC 3461 §4.2
)

var (
	errSyntax      = reply.New(501, "5.5.2", "Syntax error in parameters or arguments")
	errPathSyntax  = reply.New(553, "5.1.3", "Bad address syntax")
	errParamSyntax = reply.New(501, "5.5.4", "Syntax error in parameters")
	errNeedUTF8    = reply.New(553, "5.6.7", "Non-ASCII address requires SMTPUTF8")
)

// splitCommand splits a command line into its upper-cased verb and the
// argument that follows a single space.
func splitCommand(line string) (verb, arg string) {
	verb, arg, _ = strings.Cut(line, " ")
	return strings.ToUpper(verb), strings.TrimLeft(arg, " ")
}

// path is a parsed reverse-path or forward-path.
type path struct {
	Addr     string // "local@domain" (domain as lower-case A-labels); "" for <>
	NonASCII bool   // the address contains UTF-8 (needs SMTPUTF8)
}

// param is one esmtp-keyword[=esmtp-value] (RFC 5321 §4.1.2).
type param struct {
	Key   string // upper case
	Value string
	Set   bool // a value was given
}

// parsePathArg parses `FROM:<path> params` / `TO:<path> params`; prefix is
// "FROM:" or "TO:". A space after the colon is tolerated, as most servers do.
// Source routes (`<@a,@b:user@c>`) are stripped as RFC 5321 §4.1.1.3
// allows, so the mailbox is judged by its own domain.
func parsePathArg(arg, prefix string, allowNull bool) (path, []param, *reply.Error) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return path{}, nil, errSyntax
	}
	s := strings.TrimLeft(arg[len(prefix):], " ")
	p, rest, rerr := parsePath(s, allowNull)
	if rerr != nil {
		return path{}, nil, rerr
	}
	params, rerr := parseParams(rest)
	if rerr != nil {
		return path{}, nil, rerr
	}
	return p, params, nil
}

// parsePath parses "<" [ A-d-l ":" ] Mailbox ">" (or "<>" when allowNull)
// and returns what follows the closing bracket.
func parsePath(s string, allowNull bool) (path, string, *reply.Error) {
	if !strings.HasPrefix(s, "<") {
		return path{}, "", errPathSyntax
	}
	s = s[1:]
	if strings.HasPrefix(s, ">") {
		if !allowNull {
			return path{}, "", errPathSyntax
		}
		return path{}, s[1:], nil
	}
	if strings.HasPrefix(s, "@") { // source route: drop it
		end := routeEnd(s)
		if end < 0 {
			return path{}, "", errPathSyntax
		}
		s = s[end+1:]
	}
	var p path
	local, s, ok := parseLocalPart(s)
	if !ok || len(local) > maxLocalPart || !strings.HasPrefix(s, "@") {
		return path{}, "", errPathSyntax
	}
	s = s[1:]
	end := strings.IndexByte(s, '>')
	if end < 0 {
		return path{}, "", errPathSyntax
	}
	domain, ok := parseDomain(s[:end])
	if !ok {
		return path{}, "", errPathSyntax
	}
	p.Addr = local + "@" + domain
	if len(p.Addr) > maxPath-2 {
		return path{}, "", errPathSyntax
	}
	p.NonASCII = !isASCII(local) || !isASCII(s[:end])
	return p, s[end+1:], nil
}

// routeEnd returns the index of the ':' that ends an A-d-l, validating its
// domains, or -1.
func routeEnd(s string) int {
	i := strings.IndexByte(s, ':')
	for i > 0 && strings.Count(s[:i], "[") != strings.Count(s[:i], "]") { // IPv6 literal
		j := strings.IndexByte(s[i+1:], ':')
		if j < 0 {
			return -1
		}
		i += 1 + j
	}
	if i < 0 {
		return -1
	}
	for _, at := range strings.Split(s[:i], ",") {
		if !strings.HasPrefix(at, "@") {
			return -1
		}
		if _, ok := parseDomain(at[1:]); !ok {
			return -1
		}
	}
	return i
}

func isAtext(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c >= 0x80:
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// parseLocalPart parses a Dot-string or Quoted-string (RFC 5321 §4.1.2,
// with UTF-8 per RFC 6531 §3.3). A quoted string whose content is a valid
// Dot-string is returned unquoted, so `"john"@x` and `john@x` are one
// address; otherwise it is returned in canonical quoted form.
func parseLocalPart(s string) (local, rest string, ok bool) {
	if strings.HasPrefix(s, `"`) {
		var b strings.Builder
		i := 1
		for ; i < len(s); i++ {
			c := s[i]
			switch {
			case c == '"':
				content := b.String()
				if !utf8.ValidString(content) || content == "" {
					return "", "", false
				}
				if isDotString(content) {
					return content, s[i+1:], true
				}
				return quote(content), s[i+1:], true
			case c == '\\':
				if i+1 >= len(s) || s[i+1] < 32 || s[i+1] > 126 {
					return "", "", false
				}
				i++
				b.WriteByte(s[i])
			case c >= 32 && c != 127:
				b.WriteByte(c)
			default:
				return "", "", false
			}
		}
		return "", "", false
	}
	i := 0
	for i < len(s) && (isAtext(s[i]) || s[i] == '.') {
		i++
	}
	local = s[:i]
	if !isDotString(local) || !utf8.ValidString(local) {
		return "", "", false
	}
	return local, s[i:], true
}

func isDotString(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '.' && !isAtext(s[i]) {
			return false
		}
	}
	return true
}

func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// parseDomain validates a domain or address literal and returns it in
// canonical form: lower-case A-labels, or "[ip]" / "[IPv6:ip]".
func parseDomain(s string) (string, bool) {
	if s == "" || len(s) > maxDomain {
		return "", false
	}
	if s[0] == '[' {
		if s[len(s)-1] != ']' {
			return "", false
		}
		in := s[1 : len(s)-1]
		if v6, ok := strings.CutPrefix(in, "IPv6:"); ok {
			ip, err := netip.ParseAddr(v6)
			if err != nil || !ip.Is6() || ip.Zone() != "" {
				return "", false
			}
			return "[IPv6:" + ip.String() + "]", true
		}
		ip, err := netip.ParseAddr(in)
		if err != nil || !ip.Is4() {
			return "", false
		}
		return "[" + ip.String() + "]", true
	}
	if !isASCII(s) {
		if !utf8.ValidString(s) {
			return "", false
		}
		a, err := idna.Lookup.ToASCII(s)
		if err != nil {
			return "", false
		}
		s = a
	}
	s = strings.ToLower(s)
	if len(s) > maxDomain {
		return "", false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return "", false
			}
		}
	}
	return s, true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// parseParams parses the esmtp parameters after a path (RFC 5321 §4.1.2).
// Keys are upper-cased; a repeated key is an error.
func parseParams(s string) ([]param, *reply.Error) {
	if s == "" {
		return nil, nil
	}
	if s[0] != ' ' {
		return nil, errParamSyntax
	}
	var out []param
	for _, f := range strings.Fields(s) {
		k, v, set := strings.Cut(f, "=")
		if k == "" || !isKeyword(k) || (set && !isParamValue(v)) {
			return nil, errParamSyntax
		}
		k = strings.ToUpper(k)
		for _, p := range out {
			if p.Key == k {
				return nil, errParamSyntax
			}
		}
		out = append(out, param{Key: k, Value: v, Set: set})
		if len(out) > 16 {
			return nil, errParamSyntax
		}
	}
	return out, nil
}

func isKeyword(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || c != '-') {
			return false
		}
	}
	return true
}

// isParamValue: esmtp-value is %d33-60 / %d62-126, plus UTF-8 (RFC 6531).
func isParamValue(v string) bool {
	if v == "" || !utf8.ValidString(v) {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 33 || c == '=' || c == 127 {
			return false
		}
	}
	return true
}

// isXtext validates RFC 3461 §4 xtext: printable ASCII except "+" and
// "=", with "+XX" (upper-case hex) escapes.
func isXtext(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+':
			if i+2 >= len(s) || !isUpperHex(s[i+1]) || !isUpperHex(s[i+2]) {
				return false
			}
			i += 2
		case c < 33 || c > 126 || c == '=':
			return false
		}
	}
	return true
}

func isUpperHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }

// mailParams are the MAIL parameters pochta understands.
type mailParams struct {
	Size     int64
	EightBit bool
	SMTPUTF8 bool
	Ret      string
	EnvID    string
	// RequireTLS: REQUIRETLS (RFC 8689 §4.1).
	RequireTLS bool
}

// parseMailParams interprets MAIL parameters: SIZE (RFC 1870), BODY
// (RFC 6152), SMTPUTF8 (RFC 6531), RET and ENVID (RFC 3461), REQUIRETLS
// (RFC 8689), AUTH
// (RFC 4954 §5, accepted and ignored).
func parseMailParams(params []param) (mailParams, *reply.Error) {
	var m mailParams
	for _, p := range params {
		switch p.Key {
		case "SIZE":
			n, err := strconv.ParseInt(p.Value, 10, 64)
			if !p.Set || err != nil || n < 0 || len(p.Value) > 20 {
				return m, errParamSyntax
			}
			m.Size = n
		case "BODY":
			switch strings.ToUpper(p.Value) {
			case "7BIT":
			case "8BITMIME":
				m.EightBit = true
			default:
				return m, reply.New(555, "5.5.4", "Unsupported BODY type")
			}
		case "SMTPUTF8":
			if p.Set {
				return m, errParamSyntax
			}
			m.SMTPUTF8 = true
		case "RET":
			switch v := strings.ToUpper(p.Value); v {
			case "FULL", "HDRS":
				m.Ret = v
			default:
				return m, errParamSyntax
			}
		case "ENVID":
			if !p.Set || len(p.Value) > maxEnvID || !isXtext(p.Value) {
				return m, errParamSyntax
			}
			m.EnvID = envelope.DecodeXtext(p.Value)
		case "AUTH":
			if !p.Set {
				return m, errParamSyntax
			}
		case "REQUIRETLS":
			if p.Set {
				return m, errParamSyntax
			}
			m.RequireTLS = true
		default:
			return m, reply.New(555, "5.5.4", "Unsupported MAIL parameter")
		}
	}
	return m, nil
}

// rcptParams are the RCPT parameters pochta understands (RFC 3461 §4).
type rcptParams struct {
	Notify []string
	ORcpt  string
}

func parseRcptParams(params []param) (rcptParams, *reply.Error) {
	var r rcptParams
	for _, p := range params {
		switch p.Key {
		case "NOTIFY":
			if !p.Set {
				return r, errParamSyntax
			}
			seen := map[string]bool{}
			for _, v := range strings.Split(strings.ToUpper(p.Value), ",") {
				switch v {
				case "NEVER", "SUCCESS", "FAILURE", "DELAY":
				default:
					return r, errParamSyntax
				}
				if seen[v] {
					return r, errParamSyntax
				}
				seen[v] = true
				r.Notify = append(r.Notify, v)
			}
			if seen["NEVER"] && len(r.Notify) > 1 { // NEVER stands alone
				return r, errParamSyntax
			}
		case "ORCPT":
			typ, addr, ok := strings.Cut(p.Value, ";")
			if !p.Set || !ok || len(p.Value) > maxORcpt || !isKeyword(typ) || addr == "" || !isXtext(addr) {
				return r, errParamSyntax
			}
			if strings.EqualFold(typ, "rfc822") { // utf-8 type (RFC 6533) kept as given
				addr = envelope.DecodeXtext(addr)
			}
			r.ORcpt = typ + ";" + addr
		default:
			return r, reply.New(555, "5.5.4", "Unsupported RCPT parameter")
		}
	}
	return r, nil
}

// relayTrick reports whether an address uses a form that old MTAs
// interpreted as a further route: the percent hack ("u%remote@local"),
// a UUCP bang path ("remote!u@local") or a quoted local part holding an
// "@". pochta never routes on these; it refuses them outright.
func relayTrick(addr string) bool {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return true
	}
	return strings.ContainsAny(addr[:i], "%!@")
}

// validHelo accepts a domain, an address literal or anything close enough
// that it is safe to quote in a Received header.
func validHelo(s string) bool {
	if s == "" || len(s) > maxDomain || !utf8.ValidString(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c >= 0x80 || strings.IndexByte(".-_:[]", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

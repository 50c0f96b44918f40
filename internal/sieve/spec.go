package sieve

// valType is what a tag or positional argument takes.
type valType int

const (
	vNone valType = iota
	vNumber
	vString
	vStrings
)

func (v valType) String() string {
	switch v {
	case vNumber:
		return "number"
	case vString:
		return "single string"
	case vStrings:
		return "string list"
	}
	return "nothing"
}

type tagSpec struct {
	val   valType
	group string // exclusive group (match type, address part, ...); "" = the tag itself
	ext   string // extension the tag needs
}

type spec struct {
	ext      string
	tags     map[string]tagSpec
	pos      []valType
	optFirst bool // the first positional argument may be left out
	block    bool
	test     bool // control command with a test
	tests    int  // tests only: 0 none, 1 exactly one, 2 a list
}

// match types, comparator (RFC 5228 §2.7) and address parts (§2.7.4).
func withMatch(extra map[string]tagSpec, addr bool) map[string]tagSpec {
	m := map[string]tagSpec{
		"is":         {group: "match"},
		"contains":   {group: "match"},
		"matches":    {group: "match"},
		"comparator": {val: vString},
	}
	if addr {
		m["all"] = tagSpec{group: "addrpart"}
		m["localpart"] = tagSpec{group: "addrpart"}
		m["domain"] = tagSpec{group: "addrpart"}
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

var flagsTag = tagSpec{val: vStrings, ext: "imap4flags"}

var commandSpecs = map[string]spec{
	"if":         {block: true, test: true},
	"elsif":      {block: true, test: true},
	"else":       {block: true},
	"stop":       {},
	"keep":       {tags: map[string]tagSpec{"flags": flagsTag}},
	"discard":    {},
	"redirect":   {tags: map[string]tagSpec{"copy": {ext: "copy"}}, pos: []valType{vString}},
	"fileinto":   {ext: "fileinto", tags: map[string]tagSpec{"flags": flagsTag, "copy": {ext: "copy"}, "create": {ext: "mailbox"}}, pos: []valType{vString}},
	"reject":     {ext: "reject", pos: []valType{vString}},
	"ereject":    {ext: "ereject", pos: []valType{vString}},
	"setflag":    {ext: "imap4flags", pos: []valType{vString, vStrings}, optFirst: true},
	"addflag":    {ext: "imap4flags", pos: []valType{vString, vStrings}, optFirst: true},
	"removeflag": {ext: "imap4flags", pos: []valType{vString, vStrings}, optFirst: true},
	"set": {ext: "variables", tags: map[string]tagSpec{
		"lower": {group: "case"}, "upper": {group: "case"},
		"lowerfirst": {group: "first"}, "upperfirst": {group: "first"},
		"quotewildcard": {}, "length": {},
	}, pos: []valType{vString, vString}},
	"vacation": {ext: "vacation", tags: map[string]tagSpec{
		"days":      {val: vNumber, group: "period"},
		"seconds":   {val: vNumber, group: "period", ext: "vacation-seconds"},
		"subject":   {val: vString},
		"from":      {val: vString},
		"addresses": {val: vStrings},
		"mime":      {},
		"handle":    {val: vString},
	}, pos: []valType{vString}},
}

var testSpecs = map[string]spec{
	"address":       {tags: withMatch(nil, true), pos: []valType{vStrings, vStrings}},
	"envelope":      {ext: "envelope", tags: withMatch(nil, true), pos: []valType{vStrings, vStrings}},
	"header":        {tags: withMatch(nil, false), pos: []valType{vStrings, vStrings}},
	"exists":        {pos: []valType{vStrings}},
	"size":          {tags: map[string]tagSpec{"over": {group: "size"}, "under": {group: "size"}}, pos: []valType{vNumber}},
	"allof":         {tests: 2},
	"anyof":         {tests: 2},
	"not":           {tests: 1},
	"true":          {},
	"false":         {},
	"body":          {ext: "body", tags: withMatch(map[string]tagSpec{"raw": {group: "transform"}, "text": {group: "transform"}, "content": {val: vStrings, group: "transform"}}, false), pos: []valType{vStrings}},
	"string":        {ext: "variables", tags: withMatch(nil, false), pos: []valType{vStrings, vStrings}},
	"hasflag":       {ext: "imap4flags", tags: withMatch(nil, false), pos: []valType{vStrings, vStrings}, optFirst: true},
	"mailboxexists": {ext: "mailbox", pos: []valType{vStrings}},
}

package envelope

import "testing"

func TestXtextDecode(t *testing.T) {
	for in, want := range map[string]string{
		"":                  "",
		"plain":             "plain",
		"a+2Bb":             "a+b",
		"a+3db":             "a=b",
		"trailing+2":        "trailing+2",
		"bad+ZZ":            "bad+ZZ",
		"rfc822;x+2By@z.ru": "rfc822;x+y@z.ru",
	} {
		if got := DecodeXtext(in); got != want {
			t.Errorf("DecodeXtext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWantsNotify(t *testing.T) {
	def := Recipient{}
	if !def.WantsNotify("FAILURE") || !def.WantsNotify("DELAY") || def.WantsNotify("SUCCESS") {
		t.Fatal("RFC 3461 default is FAILURE,DELAY")
	}
	never := Recipient{Notify: []string{"NEVER"}}
	if never.WantsNotify("FAILURE") {
		t.Fatal("NEVER asks for nothing")
	}
	if !(Recipient{Notify: []string{"success"}}).WantsNotify("SUCCESS") {
		t.Fatal("case-insensitive")
	}
}

func TestDomainLocalPart(t *testing.T) {
	if Domain("Kate@Example.TEST") != "example.test" || LocalPart("a@b@c.test") != "a@b" || Domain("none") != "" {
		t.Fatal("address split wrong")
	}
}

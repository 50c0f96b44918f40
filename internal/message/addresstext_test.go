package message

import "testing"

// Address headers written with comments, folding or quoting render to the
// canonical form SEARCH FROM/TO/CC/BCC also match against.
func TestAddressSearchText(t *testing.T) {
	cases := []struct{ in, want string }{
		{"user-from@domain.org", "user-from@domain.org"},
		{"RealFrom <user-from@domain.org>", "RealFrom <user-from@domain.org>"},
		{"<user-from (comment)@ (comment) domain.org>", "user-from@domain.org"},
		{"user-from@domain.org (RealFrom)", "RealFrom <user-from@domain.org>"},
		{`"Real \"Q\" From" <u@d.org>`, `Real "Q" From <u@d.org>`},
		{"a@b.org,\r\n c@d.org", "a@b.org, c@d.org"},
		{"=?UTF-8?Q?J=C3=B6rg?= <j@x.org>", "Jörg <j@x.org>"},
		{"groupname: g1@domain.org, g2@domain.org;,\r\n  groupname2: g3@domain.org;",
			"groupname:, g1@domain.org, g2@domain.org;, groupname2:, g3@domain.org;"},
		{"groupname:;", "groupname:;"},
		{"undisclosed", "undisclosed"},
		{"", ""},
	}
	for _, c := range cases {
		if got := AddressSearchText(c.in); got != c.want {
			t.Errorf("AddressSearchText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

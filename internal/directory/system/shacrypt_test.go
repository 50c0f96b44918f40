package system

import (
	"os/exec"
	"strings"
	"testing"
)

// shaVectors: the specification's test vectors (SHA-crypt.txt) and
// hashes made on this machine by `openssl passwd` and libxcrypt's
// crypt(3) (through Python's crypt module).
var shaVectors = []struct{ setting, password, want string }{
	// SHA-crypt.txt
	{"$6$saltstring", "Hello world!", "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"},
	{"$6$rounds=10000$saltstringsaltstring", "Hello world!", "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."},
	{"$5$rounds=10000$saltstringsaltstring", "Hello world!", "$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA"},
	{"$5$rounds=123456$asaltof16chars..", "a short string", "$5$rounds=123456$asaltof16chars..$gP3VQ/6X7UUEW3HkBn2w1/Ptq2jxPyzV/cZKmF/wJvD"},
	{"$5$rounds=10$roundstoolow", "the minimum number is still observed", "$5$rounds=1000$roundstoolow$yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC"},
	// openssl passwd -5 / -6 -salt
	{"$5$saltstring", "Hello world!", "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"},
	{"$6$toolongsaltstring", "This is just a test", "$6$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0"},
	{"$5$short", "we have a short salt string but not a short password", "$5$short$k38kpRP0CfxHLIcmymaSTFLK.iFfF4tKryDuEGKp6SC"},
	// libxcrypt crypt(3)
	{"$6$rounds=1400$anotherlongsaltstring", "a very much longer text to encrypt.  This one even stretches over morethan one line.", "$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1"},
	{"$6$x$", "", "$6$x$QSmr1Bx2g4O6BzKvdkgOcyU6H91X6I/XBv5pSalMhSPkwdH6Beo3F455xZJg0v//bxVK5F4OE5k1.0xuR26MK0"},
	{"$6$rounds=5000$usesomesillystri$", "we have a short salt string but not a short password", "$6$rounds=5000$usesomesillystri$pgFPKUO2WODfHr9nxFz224lPao/jweYE688dLcTCiOVSul16j.JDk3tVfMNE4Vof9x7ElWlwa3CC5zlr24tEv."},
	{"$5$kJ4e$", "пароль с юникодом", "$5$kJ4e$KcLVBqHZBmaJDfGcCb4VG7dXdM2x8uCvbqeFatBupUA"},
}

func TestSHACryptVectors(t *testing.T) {
	for _, v := range shaVectors {
		got, err := shaCrypt(v.password, v.setting)
		if err != nil || got != v.want {
			t.Errorf("shaCrypt(%q, %q) = %q, %v\nwant %q", v.password, v.setting, got, err, v.want)
		}
		if ok, err := shaCryptVerify(v.want, v.password); !ok || err != nil {
			t.Errorf("verify %q: %v %v", v.want, ok, err)
		}
		if ok, _ := shaCryptVerify(v.want, v.password+"x"); ok {
			t.Errorf("verify %q accepted a wrong password", v.want)
		}
	}
	for _, bad := range []string{"$1$abc$def", "$y$j9T$abc$def", "$6$rounds=x$abc$def", "$6$rounds=5000", "plain"} {
		if ok, err := shaCryptVerify(bad, "x"); ok || err == nil {
			t.Errorf("verify %q: %v %v", bad, ok, err)
		}
	}
}

// TestSHACryptOpenSSL: fresh hashes with random salts, made by openssl.
func TestSHACryptOpenSSL(t *testing.T) {
	for _, alg := range []string{"-5", "-6"} {
		for _, pw := range []string{"kate's Pa55word!", "x", strings.Repeat("long", 40)} {
			cmd := exec.Command("openssl", "passwd", alg, "-stdin")
			cmd.Stdin = strings.NewReader(pw + "\n")
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("openssl passwd %s (package openssl): %v", alg, err)
			}
			h := strings.TrimSpace(string(out))
			if ok, err := shaCryptVerify(h, pw); !ok || err != nil {
				t.Errorf("openssl hash %q of %q not verified: %v", h, pw, err)
			}
		}
	}
}

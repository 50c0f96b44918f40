package web

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

var update = flag.Bool("update", false, "rewrite testdata/sanitise/*.golden from the current output")

// TestSanitiseGolden: each testdata/sanitise/NAME.html sanitised with
// remote images blocked is NAME.golden, and with images allowed
// NAME.images.golden.
func TestSanitiseGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/sanitise/*.html")
	if len(files) == 0 {
		t.Fatal("no golden cases")
	}
	for _, f := range files {
		in, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, images := range []bool{false, true} {
			golden := strings.TrimSuffix(f, ".html") + ".golden"
			if images {
				golden = strings.TrimSuffix(f, ".html") + ".images.golden"
			}
			got := sanitise(in, images, nil)
			if *update {
				os.WriteFile(golden, got, 0o644)
				continue
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("%s:\n got %s\nwant %s", golden, got, want)
			}
		}
	}
}

// FuzzSanitise: whatever the input, the output (read as a browser's
// tokenizer reads it) has no script, form, frame, style or object element,
// no event handler or style attribute, no javascript: URL, and with images
// blocked no remote address in a src.
func FuzzSanitise(f *testing.F) {
	for _, s := range []string{`<script>alert(1)</script>`, `<img src=x onerror=alert(1)>`, `<a href="jav&#x09;ascript:alert(1)">x</a>`,
		`<svg><script>alert(1)</script></svg>`, `<math><mi xlink:href="javascript:alert(1)">x</mi></math>`, `<img src="http://t/x">`,
		`<<script>script>alert(1)<</script>/script>`, `<style>@import url(http://t/)</style>`, `<div style="background:url(http://t/)">`} {
		f.Add([]byte(s))
	}
	bad := map[string]bool{"script": true, "form": true, "iframe": true, "frame": true, "style": true, "object": true, "embed": true,
		"link": true, "meta": true, "base": true, "input": true, "button": true, "svg": true, "math": true}
	f.Fuzz(func(t *testing.T, in []byte) {
		out := sanitise(in, false, nil)
		z := html.NewTokenizer(bytes.NewReader(out))
		for {
			tt := z.Next()
			if tt == html.ErrorToken {
				return
			}
			if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
				continue
			}
			tok := z.Token()
			if bad[tok.Data] {
				t.Fatalf("sanitise(%q) = %q has <%s>", in, out, tok.Data)
			}
			for _, a := range tok.Attr {
				v := strings.ToLower(strings.TrimSpace(a.Val))
				if strings.HasPrefix(a.Key, "on") || a.Key == "style" || strings.HasPrefix(v, "javascript:") ||
					(a.Key == "src" && v != "about:blank" && !strings.HasPrefix(v, "data:")) {
					t.Fatalf("sanitise(%q) = %q has %s=%q", in, out, a.Key, a.Val)
				}
			}
		}
	})
}

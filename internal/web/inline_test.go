package web

import (
	"os"
	"strings"
	"testing"
)

// TestInlineImages: an HTML part's cid: image (RFC 2392) becomes a data:
// URL of the message's image part with that Content-ID; an unknown cid,
// an SVG part and (images blocked) a remote image become about:blank.
func TestInlineImages(t *testing.T) {
	raw, err := os.ReadFile("testdata/inline/related.eml")
	if err != nil {
		t.Fatal(err)
	}
	logo, _ := os.ReadFile("testdata/inline/logo.b64")
	cids := imagesByCID(raw)
	if len(cids) != 1 || cids["logo@x"] != "data:image/png;base64,"+strings.TrimSpace(string(logo)) {
		t.Fatalf("images by cid: %v", cids)
	}
	i := strings.Index(string(raw), "<p>")
	html := raw[i : i+strings.Index(string(raw[i:]), "</p>")+4]
	out := string(sanitise(html, false, cids))
	for _, want := range []string{
		`id="logo" src="data:image/png;base64,` + strings.TrimSpace(string(logo)) + `"`,
		`id="gone" src="about:blank"`, `id="svg" src="about:blank"`, `id="remote" src="about:blank"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("sanitised HTML lacks %s:\n%s", want, out)
		}
	}
	if out := string(sanitise(html, true, nil)); !strings.Contains(out, `src="https://remote.test/t.png"`) || strings.Contains(out, "cid:") {
		t.Errorf("images allowed, no cids:\n%s", out)
	}
}

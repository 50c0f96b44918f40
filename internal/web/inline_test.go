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

// FuzzImagesByCID: any message gives only data: URLs of the allowed image
// types, within the bounds, and never fails.
func FuzzImagesByCID(f *testing.F) {
	raw, err := os.ReadFile("testdata/inline/related.eml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add([]byte("Content-Type: image/png\r\nContent-ID: <a>\r\n\r\nxx"))
	f.Add([]byte("Content-Type: multipart/related; boundary=x\r\n\r\n--x\r\nContent-Type: image/gif\r\nContent-Id: b\r\n\r\nGIF\r\n--x--"))
	f.Fuzz(func(t *testing.T, in []byte) {
		total := 0
		for cid, u := range imagesByCID(in) {
			mt, _, ok := strings.Cut(strings.TrimPrefix(u, "data:"), ";base64,")
			if cid == "" || !strings.HasPrefix(u, "data:") || !ok || !inlineTypes[mt] {
				t.Fatalf("%q: %q", cid, u)
			}
			total += len(u)
		}
		if total > maxInlineTotal*4/3+1000 {
			t.Fatalf("%d bytes of images", total)
		}
	})
}

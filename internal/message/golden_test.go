package message

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// golden renders everything the IMAP server derives from a message: the
// ENVELOPE, BODY and BODYSTRUCTURE (both without and with UTF-8 enabled).
func golden(m *Message) []byte {
	var b bytes.Buffer
	b.WriteString("ENVELOPE " + m.Envelope().IMAP() + "\n")
	b.WriteString("BODY " + m.BodyStructure(false) + "\n")
	b.WriteString("BODYSTRUCTURE " + m.BodyStructure(true) + "\n")
	b.WriteString("ENVELOPE-UTF8 " + m.Envelope().Format(true) + "\n")
	b.WriteString("BODYSTRUCTURE-UTF8 " + m.BodyStructureFormat(true, true) + "\n")
	return b.Bytes()
}

func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.eml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test messages: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got := golden(Parse(raw))
			gf := strings.TrimSuffix(f, ".eml") + ".golden"
			if *update {
				if err := os.WriteFile(gf, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(gf)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s\ngot:\n%s\nwant:\n%s", gf, got, want)
			}
		})
	}
}

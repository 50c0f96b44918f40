package main

import (
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testdata/results.txt holds lines as scripts/bench records them;
// testdata/summary.golden the summary lines they must give.
func TestReportSummary(t *testing.T) {
	runs, err := readRuns(filepath.Join("testdata", "results.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	for _, s := range summarize(runs) {
		got.WriteString(s.line() + "\n")
	}
	want, err := os.ReadFile(filepath.Join("testdata", "summary.golden"))
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != string(want) {
		t.Errorf("summary lines:\n%s\nwant:\n%s", got.String(), want)
	}
}

// The plot is well-formed SVG with one line per server and size, and a
// point per measured session count.
func TestReportPlot(t *testing.T) {
	runs, err := readRuns(filepath.Join("testdata", "results.txt"))
	if err != nil {
		t.Fatal(err)
	}
	svg := plotSMTP(summarize(runs))
	d := xml.NewDecoder(strings.NewReader(svg))
	counts := map[string]int{}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("plot is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			counts[se.Name.Local]++
		}
	}
	// Two sizes × pochta, postfix and smtp-sink; 4 KiB at 1, 10 and 50
	// sessions, 100 KiB at 1: 3×3 + 3×1 points.
	if counts["svg"] != 1 || counts["polyline"] != 6 || counts["circle"] != 12 {
		t.Errorf("plot elements %v, want 1 svg, 6 polylines, 12 circles", counts)
	}
}

func TestNum(t *testing.T) {
	for in, want := range map[string]float64{"812": 812, "6.5ms": 6.5, "1.2s": 1200, "250µs": 0.25, "0s": 0} {
		if got, ok := num(in); !ok || got != want {
			t.Errorf("num(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"127.0.0.1:25", "", "ms", "abc"} {
		if _, ok := num(in); ok {
			t.Errorf("num(%q) parsed", in)
		}
	}
}

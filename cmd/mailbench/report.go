package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"html"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
)

// A run is one measurement line of scripts/bench: figure=… server=…
// round=… and its values.
type run map[string]string

// summary is one figure's medians over the rounds: pochta's against its
// peer's, and the ratio oriented so that above 1 is better for pochta.
type summary struct {
	Figure    string             `json:"figure"`
	Unit      string             `json:"unit"`
	Better    string             `json:"better"` // "higher" or "lower"
	Pochta    float64            `json:"pochta"`
	Peer      string             `json:"peer"`
	PeerValue float64            `json:"peer_value"`
	Ratio     float64            `json:"ratio"`
	Others    map[string]float64 `json:"others,omitempty"` // further servers (the smtp-sink ceiling)
	Extra     map[string]float64 `json:"extra,omitempty"`  // medians of latencies etc., "key.server"
}

// units are the keys that carry a figure's value, in the order looked
// for, and whether a lower value is better.
var units = []struct {
	key   string
	lower bool
}{
	{"rate", false}, {"cmds_per_s", false}, {"pss_per_conn_kib", true}, {"ms", true}, {"kib", true},
}

// ceilings are servers measured as an upper bound, never the peer.
var ceilings = map[string]bool{"smtp-sink": true}

// runReport reads the measurement lines, prints one "summary" line per
// figure with the pochta/peer ratio, and writes a JSON file (every run and
// every summary) and an SVG plot of SMTP throughput against sessions.
func runReport(args []string) {
	fs := flag.NewFlagSet("report", flag.ExitOnError)
	in := fs.String("in", "", "measurement lines (key=value)")
	jsonOut := fs.String("json", "", "JSON file to write")
	svgOut := fs.String("svg", "", "SVG plot to write")
	machine := fs.String("machine", "", "a description of the machine, kept in the JSON")
	fs.Parse(args)
	runs, err := readRuns(*in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mailbench report:", err)
		os.Exit(1)
	}
	sums := summarize(runs)
	for _, s := range sums {
		fmt.Println(s.line())
	}
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(map[string]any{"machine": *machine, "runs": runs, "summary": sums}, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "mailbench report:", err)
			os.Exit(1)
		}
	}
	if *svgOut != "" {
		if err := os.WriteFile(*svgOut, []byte(plotSMTP(sums)), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "mailbench report:", err)
			os.Exit(1)
		}
	}
}

func readRuns(path string) ([]run, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var runs []run
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		r := run{}
		for _, kv := range strings.Fields(sc.Text()) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				r[k] = v
			}
		}
		if r["figure"] != "" && r["server"] != "" {
			runs = append(runs, r)
		}
	}
	return runs, sc.Err()
}

// num parses a value such as "812", "6.3ms" or "1.2s" (durations become
// milliseconds).
func num(v string) (float64, bool) {
	scale := 1.0
	switch {
	case strings.HasSuffix(v, "µs"):
		v, scale = strings.TrimSuffix(v, "µs"), 0.001
	case strings.HasSuffix(v, "ms"):
		v = strings.TrimSuffix(v, "ms")
	case strings.HasSuffix(v, "s") && len(v) > 1 && (v[len(v)-2] >= '0' && v[len(v)-2] <= '9'):
		v, scale = strings.TrimSuffix(v, "s"), 1000
	}
	f, err := strconv.ParseFloat(v, 64)
	return f * scale, err == nil
}

func medianOf(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func summarize(runs []run) []summary {
	var order []string
	servers := map[string][]string{}
	vals := map[[3]string][]float64{} // figure, server, key
	for _, r := range runs {
		f, s := r["figure"], r["server"]
		if _, ok := servers[f]; !ok {
			order = append(order, f)
		}
		if !contains(servers[f], s) {
			servers[f] = append(servers[f], s)
		}
		for k, v := range r {
			if x, ok := num(v); ok && k != "round" {
				vals[[3]string{f, s, k}] = append(vals[[3]string{f, s, k}], x)
			}
		}
	}
	var out []summary
	for _, f := range order {
		s := summary{Figure: f, Better: "higher", Others: map[string]float64{}, Extra: map[string]float64{}}
		for _, u := range units {
			if len(vals[[3]string{f, "pochta", u.key}]) > 0 {
				s.Unit = u.key
				if u.lower {
					s.Better = "lower"
				}
				break
			}
		}
		s.Pochta = medianOf(vals[[3]string{f, "pochta", s.Unit}])
		for _, srv := range servers[f] {
			if srv == "pochta" {
				continue
			}
			v := medianOf(vals[[3]string{f, srv, s.Unit}])
			if s.Peer == "" && !ceilings[srv] {
				s.Peer, s.PeerValue = srv, v
			} else {
				s.Others[srv] = v
			}
		}
		// Latencies, and how long after the last 250 pochta's search
		// index held every message (its indexer works in the background).
		for _, k := range [][2]string{{"p50", "p50_ms"}, {"p99", "p99_ms"}, {"indexed_s", "indexed_s"}} {
			for _, srv := range servers[f] {
				if xs := vals[[3]string{f, srv, k[0]}]; len(xs) > 0 {
					s.Extra[k[1]+"."+srv] = medianOf(xs)
				}
			}
		}
		if s.Peer == "" {
			s.Peer = "none" // ratio stays 0: a figure of pochta's alone
		}
		switch {
		case s.Better == "higher" && s.PeerValue > 0:
			s.Ratio = s.Pochta / s.PeerValue
		case s.Better == "lower" && s.Pochta > 0:
			s.Ratio = s.PeerValue / s.Pochta
		}
		out = append(out, s)
	}
	return out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// line is the machine-readable summary line of one figure.
func (s summary) line() string {
	l := fmt.Sprintf("summary figure=%s unit=%s better=%s pochta=%s peer=%s peer_value=%s ratio=%.2f",
		s.Figure, s.Unit, s.Better, fmtNum(s.Pochta), s.Peer, fmtNum(s.PeerValue), s.Ratio)
	for _, m := range []map[string]float64{s.Others, s.Extra} {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			l += fmt.Sprintf(" %s=%s", k, fmtNum(m[k]))
		}
	}
	return l
}

func fmtNum(f float64) string {
	if f >= 100 || f == math.Trunc(f) {
		return strconv.FormatFloat(math.Round(f), 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'f', 2, 64)
}

// plotSMTP draws, for each message size, SMTP inbound msgs/s against
// concurrent sessions for pochta, Postfix and the smtp-sink ceiling, on
// logarithmic axes (the sink is an order of magnitude above both).
func plotSMTP(sums []summary) string {
	type point struct{ sessions, rate float64 }
	series := map[string]map[string][]point{} // size → server → points
	var sizes []string
	for _, s := range sums {
		var size string
		var sess int
		if n, _ := fmt.Sscanf(s.Figure, "smtp_%dB_%ds", new(int), &sess); n != 2 {
			continue
		}
		size = strings.SplitN(strings.TrimPrefix(s.Figure, "smtp_"), "_", 2)[0]
		if series[size] == nil {
			series[size] = map[string][]point{}
			sizes = append(sizes, size)
		}
		add := func(srv string, v float64) {
			if v > 0 {
				series[size][srv] = append(series[size][srv], point{float64(sess), v})
			}
		}
		add("pochta", s.Pochta)
		add(s.Peer, s.PeerValue)
		for srv, v := range s.Others {
			add(srv, v)
		}
	}
	const pw, ph, ml, mt, mb, gap = 360.0, 260.0, 60.0, 40.0, 50.0, 70.0
	width := ml + float64(max(len(sizes), 1))*(pw+gap) + 100
	height := mt + ph + mb
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	colors := map[string]string{"pochta": "#1f77b4", "postfix": "#d62728", "smtp-sink": "#7f7f7f"}
	// Axes: sessions 1..100 and msgs/s 1..100,000, both log10.
	xmin, xmax, ymin, ymax := 0.0, 2.0, 0.0, 5.0
	for i, size := range sizes {
		x0 := ml + float64(i)*(pw+gap)
		px := func(s float64) float64 { return x0 + (math.Log10(s)-xmin)/(xmax-xmin)*pw }
		py := func(r float64) float64 {
			return mt + ph - (math.Log10(max(r, 1))-ymin)/(ymax-ymin)*ph
		}
		kib, _ := strconv.Atoi(strings.TrimSuffix(size, "B"))
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle" font-weight="bold">SMTP inbound, %d KiB messages</text>`+"\n", x0+pw/2, mt-15, kib/1024)
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" fill="none" stroke="black"/>`+"\n", x0, mt, pw, ph)
		for e := ymin; e <= ymax; e++ {
			y := py(math.Pow(10, e))
			fmt.Fprintf(&b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#ddd"/><text x="%.0f" y="%.1f" text-anchor="end">%s</text>`+"\n",
				x0, y, x0+pw, y, x0-5, y+4, fmtNum(math.Pow(10, e)))
		}
		for _, s := range []float64{1, 10, 50, 100} {
			x := px(s)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#ddd"/><text x="%.1f" y="%.0f" text-anchor="middle">%.0f</text>`+"\n",
				x, mt, x, mt+ph, x, mt+ph+15, s)
		}
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle">concurrent SMTP sessions</text>`+"\n", x0+pw/2, mt+ph+35)
		if i == 0 {
			fmt.Fprintf(&b, `<text transform="translate(15,%.0f) rotate(-90)" text-anchor="middle">messages/s (delivered)</text>`+"\n", mt+ph/2)
		}
		srvs := make([]string, 0, len(series[size]))
		for srv := range series[size] {
			srvs = append(srvs, srv)
		}
		sort.Strings(srvs)
		for _, srv := range srvs {
			pts := series[size][srv]
			sort.Slice(pts, func(a, c int) bool { return pts[a].sessions < pts[c].sessions })
			color := colors[srv]
			if color == "" {
				color = "#2ca02c"
			}
			var path []string
			for _, p := range pts {
				path = append(path, fmt.Sprintf("%.1f,%.1f", px(p.sessions), py(p.rate)))
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s %.0f sessions: %.0f msgs/s</title></circle>`+"\n",
					px(p.sessions), py(p.rate), color, html.EscapeString(srv), p.sessions, p.rate)
			}
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", strings.Join(path, " "), color)
		}
	}
	// Legend.
	lx := ml + float64(len(sizes))*(pw+gap) - gap + 10
	for i, srv := range []string{"pochta", "postfix", "smtp-sink"} {
		y := mt + 20 + float64(i)*20
		fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="%s" stroke-width="2"/><text x="%.0f" y="%.0f">%s</text>`+"\n",
			lx, y, lx+20, y, colors[srv], lx+25, y+4, srv)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

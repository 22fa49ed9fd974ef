package bench

import (
	"bytes"
	"fmt"
	"math"
)

// curvePoint is one load (records/s) and its latencies in ms: Kafka p50,
// Kafka p99, gRPC p50, gRPC p99.
type curvePoint struct {
	load float64
	ms   [4]float64
}

// latencySVG draws latency against load, both axes logarithmic, as a
// small self-contained SVG (no plotting dependency).
func latencySVG(pts []curvePoint) []byte {
	const w, h, left, right, top, bottom = 640, 400, 60, 150, 30, 50
	pw, ph := float64(w-left-right), float64(h-top-bottom)
	x0, x1 := math.Log10(pts[0].load), math.Log10(pts[len(pts)-1].load)
	y0, y1 := -1.0, 1.0 // 0.1 ms .. 10 ms, widened to the data
	for _, p := range pts {
		for _, v := range p.ms {
			if v > 0 {
				y0, y1 = min(y0, math.Floor(math.Log10(v))), max(y1, math.Ceil(math.Log10(v)))
			}
		}
	}
	px := func(load float64) float64 { return left + (math.Log10(load)-x0)/(x1-x0)*pw }
	py := func(v float64) float64 { return top + ph - (math.Log10(max(v, 1e-3))-y0)/(y1-y0)*ph }
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="14">acks=all RF=3 produce latency, 100 B records, strata dev (2 cores)</text>`+"\n", left)
	for e := y0; e <= y1; e++ {
		y := py(math.Pow(10, e))
		fmt.Fprintf(&b, `<line x1="%d" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end">%g ms</text>`+"\n",
			left, left+pw, y, y, left-6, y+4, math.Pow(10, e))
	}
	for _, p := range pts {
		x := px(p.load)
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%.0f" stroke="#eee"/><text x="%.1f" y="%.0f" text-anchor="middle">%gk</text>`+"\n",
			x, x, top, top+ph, x, top+ph+16, p.load/1000)
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="%d" text-anchor="middle">records/s</text>`+"\n", left+pw/2, h-10)
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#333"/>`+"\n", left, top, pw, ph)
	series := []struct{ name, color, dash string }{
		{"Kafka p50", "#1f77b4", ""}, {"Kafka p99", "#1f77b4", "6,4"}, {"gRPC p50", "#d62728", ""}, {"gRPC p99", "#d62728", "6,4"}}
	for i, s := range series {
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" stroke-dasharray="%s" points="`, s.color, s.dash)
		for _, p := range pts {
			fmt.Fprintf(&b, "%.1f,%.1f ", px(p.load), py(p.ms[i]))
		}
		b.WriteString("\"/>\n")
		for _, p := range pts {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", px(p.load), py(p.ms[i]), s.color)
		}
		ly := top + 10 + 20*i
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="2" stroke-dasharray="%s"/><text x="%d" y="%d">%s</text>`+"\n",
			w-right+15, w-right+45, ly, ly, s.color, s.dash, w-right+50, ly+4, s.name)
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

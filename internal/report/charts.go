package report

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Chart is one PNG written next to report.md.
type Chart struct {
	File  string // base name, e.g. latency.png
	Title string
}

type line struct {
	name   string
	points []Point
}

// writeCharts draws the charts the data supports into dir.
func (r *Report) writeCharts(dir string) ([]Chart, error) {
	t := r.timeline
	var charts []Chart
	emit := func(file, title string, draw func(string) error) error {
		if err := draw(filepath.Join(dir, file)); err != nil {
			return fmt.Errorf("report: chart %s: %w", file, err)
		}
		charts = append(charts, Chart{File: file, Title: title})
		return nil
	}
	if len(t.latency) > 0 {
		lines := []line{{"p50", t.latency["p50"]}, {"p95", t.latency["p95"]}, {"p99", t.latency["p99"]}}
		for i := range lines {
			lines[i].points = scale(lines[i].points, 1000)
		}
		if err := emit("latency.png", "k6 request latency percentiles", func(p string) error {
			return r.saveLines(p, "Latency percentiles (k6, all requests)", "ms", lines, nil)
		}); err != nil {
			return nil, err
		}
	}
	if len(t.rps) > 0 {
		if err := emit("rps-vus.png", "requests/s and virtual users", func(p string) error {
			return r.saveStacked(p,
				r.newPlot("Requests per second (k6)", "req/s", []line{{"req/s", t.rps}}, nil),
				r.newPlot("Virtual users", "VUs", []line{{"VUs", t.vus}}, nil))
		}); err != nil {
			return nil, err
		}
	}
	if t.hasPools {
		if err := emit("pool-saturation.png", "connection pool saturation", func(p string) error {
			return r.saveStacked(p,
				r.newPlot("Pool saturation (used / max)", "ratio", sortedLines(t.poolSaturation), &[2]float64{0, 1.05}),
				r.newPlot("Pool wait (seconds waited per second)", "s/s", sortedLines(t.poolWait), nil))
		}); err != nil {
			return nil, err
		}
	}
	if t.hasCache {
		if err := emit("cache-hit-ratio.png", "cache hit ratio", func(p string) error {
			return r.saveLines(p, "Cache hit ratio", "hits / lookups", sortedLines(t.cacheHit), &[2]float64{0, 1.05})
		}); err != nil {
			return nil, err
		}
	}
	if t.hasRS {
		if err := emit("replicas.png", "replicas", func(p string) error {
			return r.saveLines(p, "Replicas (HPA current)", "replicas", sortedLines(t.replicas), nil)
		}); err != nil {
			return nil, err
		}
	}
	return charts, nil
}

func scale(ps []Point, f float64) []Point {
	out := make([]Point, len(ps))
	for i, p := range ps {
		out[i] = Point{T: p.T, V: p.V * f}
	}
	return out
}

func sortedLines(m map[string][]Point) []line {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]line, 0, len(names))
	for _, n := range names {
		out = append(out, line{n, m[n]})
	}
	return out
}

// newPlot draws lines against seconds since the run's start, with vertical
// marks at step boundaries.
func (r *Report) newPlot(title, ylabel string, lines []line, yRange *[2]float64) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "seconds since start"
	p.Y.Label.Text = ylabel
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	ymax := 0.0
	for i, l := range lines {
		xys := make(plotter.XYs, 0, len(l.points))
		for _, pt := range l.points {
			if math.IsNaN(pt.V) || math.IsInf(pt.V, 0) {
				continue
			}
			xys = append(xys, plotter.XY{X: pt.T.Sub(r.Start).Seconds(), Y: pt.V})
			ymax = math.Max(ymax, pt.V)
		}
		if len(xys) == 0 {
			continue
		}
		ln, err := plotter.NewLine(xys)
		if err != nil {
			continue
		}
		ln.Color = plotutil.Color(i)
		ln.Width = vg.Points(1.5)
		p.Add(ln)
		if len(lines) > 1 {
			p.Legend.Add(l.name, ln)
		}
	}
	for _, s := range r.timeline.stepStarts {
		x := s.Sub(r.Start).Seconds()
		top := ymax * 1.2
		if yRange != nil {
			top = yRange[1]
		}
		if top <= 0 {
			top = 1
		}
		mark, err := plotter.NewLine(plotter.XYs{{X: x, Y: 0}, {X: x, Y: top}})
		if err == nil {
			mark.Color = color.Gray{Y: 160}
			mark.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
			p.Add(mark)
		}
	}
	p.X.Min, p.X.Max = 0, math.Max(1, r.Duration().Seconds())
	p.Y.Min = 0
	switch {
	case yRange != nil:
		p.Y.Min, p.Y.Max = yRange[0], yRange[1]
	case ymax > 0:
		p.Y.Max = ymax * 1.2 // room for the legend
	default:
		p.Y.Max = 1
	}
	return p
}

func (r *Report) saveLines(path, title, ylabel string, lines []line, yRange *[2]float64) error {
	return r.newPlot(title, ylabel, lines, yRange).Save(22*vg.Centimeter, 10*vg.Centimeter, path)
}

// saveStacked writes two plots one above the other, sharing the time axis.
func (r *Report) saveStacked(path string, top, bottom *plot.Plot) error {
	img := vgimg.New(22*vg.Centimeter, 16*vg.Centimeter)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadX: vg.Millimeter, PadY: 3 * vg.Millimeter,
		PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 2 * vg.Millimeter}
	canvases := plot.Align([][]*plot.Plot{{top}, {bottom}}, tiles, dc)
	top.Draw(canvases[0][0])
	bottom.Draw(canvases[1][0])
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

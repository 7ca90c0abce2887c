// Package grafana builds Grafana dashboards as code. It is a small layer over
// github.com/grafana-tools/sdk (its Board, TemplateVar, Annotation, Link and
// Panel types) so the SDK can be swapped later: callers only see the types
// of this package.
//
// The SDK's last release predates Grafana's current panel model (stat
// panels with fieldConfig, state timelines, heatmaps fed by native or
// classic histograms, table transformations), so every panel is emitted as
// an sdk.CustomPanel whose keys this package writes, and the board's JSON is
// normalised afterwards (legacy keys the SDK always writes are dropped,
// variable definitions added). The output is deterministic: keys are sorted
// and ids and grid positions are assigned in declaration order.
package grafana

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/grafana-tools/sdk"
)

// GridWidth is the width of Grafana's dashboard grid.
const GridWidth = 24

// DatasourceRef names a provisioned datasource by uid.
type DatasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Target is one PromQL query of a panel.
type Target struct {
	Expr   string
	Legend string
	// Instant asks for the value at the end of the time range only (stat,
	// gauge and table panels); otherwise the query is a range query.
	Instant bool
	// Format is "time_series" (default), "table" or "heatmap".
	Format string
	// Interval is the minimum step, e.g. "15s"; empty for the default.
	Interval string
	// KubernetesOnly marks series that exist only when the stack runs on
	// Kubernetes (HPA, VPA, kube-state-metrics, cAdvisor). It is not
	// written to the JSON; Dashboard.Queries reports it.
	KubernetesOnly bool
}

// Step is one threshold step; the first step's Value is ignored (base).
type Step struct {
	Color string
	Value float64
}

// ValueMapping maps one exact value or a range to a text and colour.
type ValueMapping struct {
	Value    string   // exact value ("1"); empty for a range
	From, To *float64 // range, when Value is empty
	Text     string
	Color    string
}

// Field holds the defaults of a panel's fieldConfig.
type Field struct {
	Unit     string
	Decimals *int
	Min, Max *float64
	// Thresholds, when set, are absolute steps; ThresholdsMode "percentage"
	// switches them to percentages of min..max.
	Thresholds     []Step
	ThresholdsMode string
	// ThresholdStyle draws thresholds on time series: "line", "area",
	// "line+area", "dashed"; empty means off.
	ThresholdStyle string
	Mappings       []ValueMapping
	// Color is the colour mode: "palette-classic" (default for time
	// series), "thresholds", "fixed:<colour>", "continuous-GrYlRd"...
	Color       string
	DisplayName string
	NoValue     string
	// Custom holds panel-specific field options (fillOpacity, drawStyle,
	// stacking, cellOptions...), merged over the package defaults.
	Custom map[string]any
}

// Override changes field properties for fields matched by name, regex or
// query (refId).
type Override struct {
	Matcher    string // "byName", "byRegexp", "byFrameRefID", "byType"
	Value      string
	Properties map[string]any // property id -> value, e.g. "unit": "reqps"
}

// Panel is one panel. Type is a Grafana panel plugin id: timeseries, stat,
// gauge, bargauge, table, heatmap, state-timeline, text.
type Panel struct {
	Type        string
	Title       string
	Description string
	W, H        int
	Targets     []Target
	Field       Field
	Overrides   []Override
	// Options are the panel plugin's options, written as they are.
	Options         map[string]any
	Transformations []map[string]any
	// Interval is the panel's minimum query interval ("15s").
	Interval string
	// MaxDataPoints limits the resolution of range queries.
	MaxDataPoints int
}

// Variable is a template variable.
type Variable struct {
	Name        string
	Label       string
	Description string
	// Type is "query", "custom", "textbox" or "constant".
	Type string
	// Query is label_values(...) for query variables, the comma-separated
	// choices for custom ones and the default value of textbox and
	// constant variables.
	Query      string
	Multi      bool
	IncludeAll bool
	// AllValue is used for "All" (e.g. ".*"); empty means the union.
	AllValue string
	// Default is the value selected initially; "$__all" selects All.
	Default string
	Regex   string
	Hide    bool
	// Sort: 0 none, 1 alphabetical asc, 2 desc, 3 numerical asc, 4 desc.
	Sort int
}

// Annotation is a query-driven annotation: each series of the result
// becomes an event (a region while the value stays non-zero).
type Annotation struct {
	Name        string
	Expr        string
	Step        string
	Color       string
	TitleFormat string
	TextFormat  string
	TagKeys     string
	Enabled     bool
	// KubernetesOnly as for Target.
	KubernetesOnly bool
}

// Row groups panels under a collapsible header.
type Row struct {
	Title  string
	Panels []*Panel
}

// Dashboard is one dashboard.
type Dashboard struct {
	UID         string
	Title       string
	Description string
	Tags        []string
	// Datasource every panel, target, variable and annotation uses.
	Datasource DatasourceRef
	// Refresh is the auto-refresh interval ("10s"); From is the default
	// time range start ("now-30m").
	Refresh string
	From    string
	// LinkTag links to every dashboard carrying this tag (dropdown).
	LinkTag     string
	Variables   []Variable
	Annotations []Annotation
	Rows        []Row
}

// PanelQuery is one query of a built dashboard, for tests and live checks.
type PanelQuery struct {
	Dashboard      string
	PanelID        int
	PanelTitle     string
	PanelType      string
	RefID          string
	Expr           string
	Instant        bool
	KubernetesOnly bool
	Annotation     bool // the query of an annotation, not of a panel
}

// Queries lists every panel and annotation query, in layout order, with
// the ids Build assigns.
func (d *Dashboard) Queries() []PanelQuery {
	var out []PanelQuery
	id := 0
	for _, r := range d.Rows {
		id++ // the row
		for _, p := range r.Panels {
			id++
			for i, t := range p.Targets {
				out = append(out, PanelQuery{Dashboard: d.Title, PanelID: id, PanelTitle: p.Title, PanelType: p.Type,
					RefID: refID(i), Expr: t.Expr, Instant: t.Instant, KubernetesOnly: t.KubernetesOnly})
			}
		}
	}
	for _, a := range d.Annotations {
		out = append(out, PanelQuery{Dashboard: d.Title, PanelTitle: a.Name, PanelType: "annotation",
			Expr: a.Expr, KubernetesOnly: a.KubernetesOnly, Annotation: true})
	}
	return out
}

func refID(i int) string {
	if i < 26 {
		return string(rune('A' + i))
	}
	return fmt.Sprintf("Q%d", i)
}

// JSON renders the dashboard as indented, deterministic JSON ending in a
// newline: what the file provider reads.
func (d *Dashboard) JSON() ([]byte, error) {
	board, err := d.board()
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(board)
	if err != nil {
		return nil, fmt.Errorf("dashboard %q: marshal: %w", d.Title, err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("dashboard %q: re-read: %w", d.Title, err)
	}
	d.normalise(m)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("dashboard %q: encode: %w", d.Title, err)
	}
	return buf.Bytes(), nil
}

// board builds the SDK's model: ids and grid positions are assigned here.
func (d *Dashboard) board() (*sdk.Board, error) {
	if d.UID == "" || d.Title == "" {
		return nil, errors.New("dashboard needs a uid and a title")
	}
	if d.Datasource.UID == "" {
		return nil, fmt.Errorf("dashboard %q: no datasource uid", d.Title)
	}
	b := sdk.NewBoard(d.Title)
	b.ID = 0
	b.UID = d.UID
	b.Tags = append([]string(nil), d.Tags...)
	b.Timezone = "browser"
	b.Editable = true
	b.SchemaVersion = 39
	b.Version = 1
	b.GraphTooltip = 1 // shared crosshair
	from := d.From
	if from == "" {
		from = "now-30m"
	}
	b.Time = sdk.Time{From: from, To: "now"}
	b.Timepicker = sdk.Timepicker{RefreshIntervals: []string{"5s", "10s", "30s", "1m", "5m"}}
	if d.Refresh != "" {
		b.Refresh = &sdk.BoolString{Flag: true, Value: d.Refresh}
	}
	if d.LinkTag != "" {
		yes := true
		b.Links = []sdk.Link{{Title: "loadlens", Type: "dashboards", Tags: []string{d.LinkTag},
			AsDropdown: &yes, IncludeVars: false, KeepTime: &yes}}
	}
	for _, v := range d.Variables {
		tv, err := d.variable(v)
		if err != nil {
			return nil, err
		}
		b.Templating.List = append(b.Templating.List, tv)
	}
	b.Annotations.List = append(b.Annotations.List, sdk.Annotation{
		Name: "Annotations & Alerts", Datasource: map[string]string{"type": "grafana", "uid": "-- Grafana --"},
		Enable: true, IconColor: "rgba(0, 211, 255, 1)", Type: "dashboard", Tags: []string{}})
	for _, a := range d.Annotations {
		step := a.Step
		if step == "" {
			step = "15s"
		}
		b.Annotations.List = append(b.Annotations.List, sdk.Annotation{
			Name: a.Name, Datasource: d.Datasource, Enable: a.Enabled, IconColor: a.Color, Expr: a.Expr, Step: step,
			TitleFormat: a.TitleFormat, TextFormat: a.TextFormat, TagKeys: a.TagKeys, Tags: []string{}})
	}
	lay := layout{}
	id := 0
	for _, r := range d.Rows {
		id++
		row := sdk.NewCustom(r.Title)
		row.Renderer = nil
		row.IsNew = false
		row.ID = uint(id)
		row.Type = "row"
		x, y, w, h := lay.row()
		setGrid(row, x, y, w, h)
		(*row.CustomPanel)["collapsed"] = false
		(*row.CustomPanel)["panels"] = []any{}
		b.Panels = append(b.Panels, row)
		for _, p := range r.Panels {
			id++
			sp, err := d.panel(p, id)
			if err != nil {
				return nil, err
			}
			x, y, w, h := lay.place(p.W, p.H)
			setGrid(sp, x, y, w, h)
			b.Panels = append(b.Panels, sp)
		}
	}
	return b, nil
}

func setGrid(p *sdk.Panel, x, y, w, h int) {
	p.GridPos.X, p.GridPos.Y, p.GridPos.W, p.GridPos.H = &x, &y, &w, &h
}

// layout flows panels left to right, wrapping at the grid width; a row
// header starts below everything placed so far.
type layout struct {
	x, y, lineH int
}

func (l *layout) row() (x, y, w, h int) {
	l.y += l.lineH
	y = l.y
	l.x, l.lineH = 0, 0
	l.y++
	return 0, y, GridWidth, 1
}

func (l *layout) place(w, h int) (x, y, ww, hh int) {
	if w <= 0 || w > GridWidth {
		w = GridWidth
	}
	if h <= 0 {
		h = 8
	}
	if l.x+w > GridWidth {
		l.y += l.lineH
		l.x, l.lineH = 0, 0
	}
	x, y = l.x, l.y
	l.x += w
	if h > l.lineH {
		l.lineH = h
	}
	return x, y, w, h
}

func (d *Dashboard) panel(p *Panel, id int) (*sdk.Panel, error) {
	if p.Type == "" || p.Title == "" {
		return nil, fmt.Errorf("dashboard %q: panel %d has no type or title", d.Title, id)
	}
	sp := sdk.NewCustom(p.Title)
	sp.Renderer = nil
	sp.IsNew = false
	sp.ID = uint(id)
	sp.Type = p.Type
	sp.Datasource = d.Datasource
	if p.Description != "" {
		desc := p.Description
		sp.Description = &desc
	}
	c := *sp.CustomPanel
	targets := make([]map[string]any, 0, len(p.Targets))
	for i, t := range p.Targets {
		if strings.TrimSpace(t.Expr) == "" {
			return nil, fmt.Errorf("dashboard %q: panel %q: target %d has no expression", d.Title, p.Title, i)
		}
		format := t.Format
		if format == "" {
			format = "time_series"
		}
		tm := map[string]any{
			"refId": refID(i), "datasource": d.Datasource, "expr": t.Expr, "editorMode": "code",
			"legendFormat": t.Legend, "format": format, "instant": t.Instant, "range": !t.Instant,
		}
		if t.Legend == "" {
			tm["legendFormat"] = "__auto"
		}
		if t.Interval != "" {
			tm["interval"] = t.Interval
		}
		targets = append(targets, tm)
	}
	if p.Type != "text" {
		c["targets"] = targets
	}
	c["fieldConfig"] = map[string]any{"defaults": fieldDefaults(p.Type, p.Field), "overrides": overrides(p.Overrides)}
	opts := map[string]any{}
	for k, v := range defaultOptions(p.Type) {
		opts[k] = v
	}
	for k, v := range p.Options {
		opts[k] = v
	}
	c["options"] = opts
	if len(p.Transformations) > 0 {
		c["transformations"] = p.Transformations
	}
	if p.Interval != "" {
		c["interval"] = p.Interval
	}
	if p.MaxDataPoints > 0 {
		c["maxDataPoints"] = p.MaxDataPoints
	}
	return sp, nil
}

func fieldDefaults(panelType string, f Field) map[string]any {
	d := map[string]any{}
	if f.Unit != "" {
		d["unit"] = f.Unit
	}
	if f.Decimals != nil {
		d["decimals"] = *f.Decimals
	}
	if f.Min != nil {
		d["min"] = *f.Min
	}
	if f.Max != nil {
		d["max"] = *f.Max
	}
	if f.DisplayName != "" {
		d["displayName"] = f.DisplayName
	}
	if f.NoValue != "" {
		d["noValue"] = f.NoValue
	}
	steps := []map[string]any{{"color": "green", "value": nil}}
	if len(f.Thresholds) > 0 {
		steps = []map[string]any{{"color": f.Thresholds[0].Color, "value": nil}}
		for _, s := range f.Thresholds[1:] {
			steps = append(steps, map[string]any{"color": s.Color, "value": s.Value})
		}
	}
	mode := f.ThresholdsMode
	if mode == "" {
		mode = "absolute"
	}
	d["thresholds"] = map[string]any{"mode": mode, "steps": steps}
	color := f.Color
	if color == "" {
		switch panelType {
		case "stat", "gauge", "bargauge", "state-timeline":
			color = "thresholds"
		default:
			color = "palette-classic"
		}
	}
	if fixed, ok := strings.CutPrefix(color, "fixed:"); ok {
		d["color"] = map[string]any{"mode": "fixed", "fixedColor": fixed}
	} else {
		d["color"] = map[string]any{"mode": color}
	}
	mappings := []any{}
	for _, m := range f.Mappings {
		res := map[string]any{"text": m.Text}
		if m.Color != "" {
			res["color"] = m.Color
		}
		if m.Value != "" {
			mappings = append(mappings, map[string]any{"type": "value", "options": map[string]any{m.Value: res}})
			continue
		}
		opt := map[string]any{"result": res, "from": nil, "to": nil}
		if m.From != nil {
			opt["from"] = *m.From
		}
		if m.To != nil {
			opt["to"] = *m.To
		}
		mappings = append(mappings, map[string]any{"type": "range", "options": opt})
	}
	d["mappings"] = mappings
	custom := defaultCustom(panelType)
	if f.ThresholdStyle != "" && custom != nil {
		custom["thresholdsStyle"] = map[string]any{"mode": f.ThresholdStyle}
	}
	for k, v := range f.Custom {
		if custom == nil {
			custom = map[string]any{}
		}
		custom[k] = v
	}
	if custom != nil {
		d["custom"] = custom
	}
	return d
}

func defaultCustom(panelType string) map[string]any {
	switch panelType {
	case "timeseries":
		return map[string]any{
			"drawStyle": "line", "lineInterpolation": "linear", "lineWidth": 1, "fillOpacity": 10,
			"gradientMode": "none", "showPoints": "never", "pointSize": 4, "spanNulls": false,
			"axisPlacement": "auto", "axisLabel": "", "axisSoftMin": 0,
			"stacking":        map[string]any{"mode": "none", "group": "A"},
			"thresholdsStyle": map[string]any{"mode": "off"},
			"hideFrom":        map[string]any{"legend": false, "tooltip": false, "viz": false},
		}
	case "state-timeline":
		return map[string]any{"lineWidth": 0, "fillOpacity": 80,
			"hideFrom": map[string]any{"legend": false, "tooltip": false, "viz": false}}
	case "table":
		return map[string]any{"align": "auto", "cellOptions": map[string]any{"type": "auto"}, "inspect": false, "filterable": false}
	case "heatmap":
		return map[string]any{"hideFrom": map[string]any{"legend": false, "tooltip": false, "viz": false},
			"scaleDistribution": map[string]any{"type": "linear"}}
	}
	return nil
}

func defaultOptions(panelType string) map[string]any {
	legend := map[string]any{"displayMode": "table", "placement": "bottom", "showLegend": true, "calcs": []string{"mean", "max", "lastNotNull"}}
	tooltip := map[string]any{"mode": "multi", "sort": "desc"}
	reduce := map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false}
	switch panelType {
	case "timeseries":
		return map[string]any{"legend": legend, "tooltip": tooltip}
	case "stat":
		return map[string]any{"reduceOptions": reduce, "colorMode": "value", "graphMode": "none", "justifyMode": "auto",
			"orientation": "auto", "textMode": "auto", "wideLayout": true, "showPercentChange": false}
	case "gauge":
		return map[string]any{"reduceOptions": reduce, "showThresholdLabels": false, "showThresholdMarkers": true, "orientation": "auto"}
	case "bargauge":
		return map[string]any{"reduceOptions": reduce, "displayMode": "gradient", "orientation": "horizontal",
			"showUnfilled": true, "valueMode": "color", "namePlacement": "auto"}
	case "table":
		return map[string]any{"showHeader": true, "cellHeight": "sm", "footer": map[string]any{"show": false, "reducer": []string{"sum"}, "countRows": false}}
	case "state-timeline":
		return map[string]any{"mergeValues": true, "showValue": "auto", "alignValue": "left", "rowHeight": 0.9,
			"legend": map[string]any{"displayMode": "list", "placement": "bottom", "showLegend": true}, "tooltip": map[string]any{"mode": "single", "sort": "none"}}
	case "heatmap":
		return map[string]any{"calculate": false, "cellGap": 1, "color": map[string]any{"mode": "scheme", "scheme": "Oranges", "exponent": 0.5, "fill": "dark-orange", "scale": "exponential", "steps": 64, "reverse": false},
			"exemplars": map[string]any{"color": "rgba(255,0,255,0.7)"}, "filterValues": map[string]any{"le": 1e-9},
			"legend": map[string]any{"show": true}, "rowsFrame": map[string]any{"layout": "auto"},
			"tooltip": map[string]any{"mode": "single", "yHistogram": true, "showColorScale": false},
			"yAxis":   map[string]any{"axisPlacement": "left", "reverse": false}, "showValue": "never"}
	}
	return map[string]any{}
}

func overrides(os []Override) []any {
	out := []any{}
	for _, o := range os {
		var props []map[string]any
		for _, k := range sortedKeys(o.Properties) {
			props = append(props, map[string]any{"id": k, "value": o.Properties[k]})
		}
		out = append(out, map[string]any{"matcher": map[string]any{"id": o.Matcher, "options": o.Value}, "properties": props})
	}
	return out
}

func (d *Dashboard) variable(v Variable) (sdk.TemplateVar, error) {
	if v.Name == "" {
		return sdk.TemplateVar{}, fmt.Errorf("dashboard %q: a variable has no name", d.Title)
	}
	tv := sdk.TemplateVar{Name: v.Name, Type: v.Type, Label: v.Label, Multi: v.Multi, IncludeAll: v.IncludeAll,
		AllValue: v.AllValue, Regex: v.Regex, Sort: v.Sort, Options: []sdk.Option{}}
	if v.Hide {
		tv.Hide = 2
	}
	def := v.Default
	switch v.Type {
	case "query":
		tv.Datasource = d.Datasource
		tv.Query = map[string]any{"query": v.Query, "refId": "PrometheusVariableQueryEditor-VariableQuery", "qryType": 1}
		one := int64(2) // refresh on time range change
		tv.Refresh = sdk.BoolInt{Value: &one}
	case "custom":
		tv.Query = v.Query
		for _, o := range strings.Split(v.Query, ",") {
			o = strings.TrimSpace(o)
			tv.Options = append(tv.Options, sdk.Option{Text: o, Value: o, Selected: o == def})
		}
	case "textbox", "constant":
		tv.Query = v.Query
		if def == "" {
			def = v.Query
		}
		tv.Options = []sdk.Option{{Text: def, Value: def, Selected: true}}
	default:
		return sdk.TemplateVar{}, fmt.Errorf("dashboard %q: variable %s: unknown type %q", d.Title, v.Name, v.Type)
	}
	text := def
	var value any = def
	if def == "$__all" {
		text = "All"
	}
	if v.Multi {
		value = []string{def}
		tv.Current = sdk.Current{Text: &sdk.StringSliceString{Value: []string{text}, Valid: true}, Value: value}
	} else {
		tv.Current = sdk.Current{Text: &sdk.StringSliceString{Value: []string{text}, Valid: true}, Value: value}
	}
	if def == "" {
		tv.Current = sdk.Current{Text: &sdk.StringSliceString{Value: []string{}, Valid: true}, Value: []string{}}
	}
	return tv, nil
}

// normalise drops what the SDK writes for Grafana versions before 5 and
// adds what it cannot express.
func (d *Dashboard) normalise(m map[string]any) {
	for _, k := range []string{"rows", "slug", "originalTitle", "style", "hideControls", "sharedCrosshair"} {
		delete(m, k)
	}
	if tp, ok := m["timepicker"].(map[string]any); ok {
		delete(tp, "time_options")
	}
	m["description"] = d.Description
	m["liveNow"] = false
	m["fiscalYearStartMonth"] = 0
	if m["refresh"] == nil {
		m["refresh"] = ""
	}
	if panels, ok := m["panels"].([]any); ok {
		for _, p := range panels {
			if pm, ok := p.(map[string]any); ok {
				for _, k := range []string{"isNew", "span", "error", "editable", "transparent"} {
					delete(pm, k)
				}
				if pm["type"] == "row" {
					delete(pm, "datasource")
				}
			}
		}
	}
	if tmpl, ok := m["templating"].(map[string]any); ok {
		if list, ok := tmpl["list"].([]any); ok {
			for i, v := range list {
				vm, ok := v.(map[string]any)
				if !ok || i >= len(d.Variables) {
					continue
				}
				src := d.Variables[i]
				vm["description"] = src.Description
				for _, k := range []string{"allFormat", "multiFormat"} {
					delete(vm, k)
				}
				switch src.Type {
				case "query":
					vm["definition"] = src.Query
				default:
					vm["query"] = src.Query
				}
			}
		}
	}
	if ann, ok := m["annotations"].(map[string]any); ok {
		if list, ok := ann["list"].([]any); ok {
			for i, a := range list {
				am, ok := a.(map[string]any)
				if !ok {
					continue
				}
				if i == 0 {
					am["builtIn"] = 1
					am["hide"] = true
					continue
				}
				am["useValueForTime"] = false
				for _, k := range []string{"query", "textField", "tagsField", "lineColor", "iconSize", "showLine", "type"} {
					delete(am, k)
				}
			}
		}
	}
}

func sortedKeys(m map[string]any) []string {
	return slices.Sorted(maps.Keys(m))
}

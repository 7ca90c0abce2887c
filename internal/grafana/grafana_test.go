package grafana

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func testDashboard() *Dashboard {
	ds := DatasourceRef{Type: "prometheus", UID: "ds"}
	return &Dashboard{
		UID: "u", Title: "T", Datasource: ds, LinkTag: "t",
		Variables: []Variable{
			{Name: "ns", Type: "query", Query: "label_values(up, namespace)", Multi: true, IncludeAll: true, AllValue: ".*", Default: "$__all"},
			{Name: "price", Type: "textbox", Query: "0.5"},
		},
		Annotations: []Annotation{{Name: "runs", Expr: "k6_vus > 0", Enabled: true}},
		Rows: []Row{
			{Title: "one", Panels: []*Panel{
				{Type: "stat", Title: "a", W: 8, H: 4, Targets: []Target{{Expr: `up{namespace=~"$ns"}`, Instant: true}}, Field: Field{Unit: "none"}},
				{Type: "timeseries", Title: "b", W: 8, H: 6, Targets: []Target{{Expr: "up", Legend: "{{job}}"}, {Expr: "up * $price", KubernetesOnly: true}}},
				{Type: "timeseries", Title: "c", W: 12, H: 5, Targets: []Target{{Expr: "up"}}}, // wraps
			}},
			{Title: "two", Panels: []*Panel{
				{Type: "table", Title: "d", W: 30, Targets: []Target{{Expr: "up", Format: "table", Instant: true}}}, // clamped to 24
			}},
		},
	}
}

func TestLayoutIDsAndQueries(t *testing.T) {
	d := testDashboard()
	b, err := d.JSON()
	if err != nil {
		t.Fatal(err)
	}
	dec, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	type pos struct{ id, x, y, w, h int }
	want := []pos{{1, 0, 0, 24, 1}, {2, 0, 1, 8, 4}, {3, 8, 1, 8, 6}, {4, 0, 7, 12, 5}, {5, 0, 12, 24, 1}, {6, 0, 13, 24, 8}}
	if len(dec.Panels) != len(want) {
		t.Fatalf("%d panels, want %d", len(dec.Panels), len(want))
	}
	for i, p := range dec.Panels {
		got := pos{p.ID, p.GridPos.X, p.GridPos.Y, p.GridPos.W, p.GridPos.H}
		if got != want[i] {
			t.Errorf("panel %d (%s): %+v, want %+v", i, p.Title, got, want[i])
		}
	}
	if dec.Panels[0].Type != "row" || dec.Panels[0].Datasource != nil {
		t.Errorf("first panel is not a row without datasource: %+v", dec.Panels[0])
	}
	if ds := dec.Panels[2].Targets[1].Datasource; ds == nil || ds.UID != "ds" || dec.Panels[2].Targets[1].RefID != "B" {
		t.Errorf("second target: %+v", dec.Panels[2].Targets[1])
	}
	qs := d.Queries()
	if len(qs) != 6 {
		t.Fatalf("%d queries, want 6 (5 panel + 1 annotation)", len(qs))
	}
	// Queries reports the ids the JSON carries.
	for _, q := range qs[:5] {
		found := false
		for _, p := range dec.Panels {
			if p.ID == q.PanelID && p.Title == q.PanelTitle {
				found = true
			}
		}
		if !found {
			t.Errorf("query of %q has id %d, not in the JSON", q.PanelTitle, q.PanelID)
		}
	}
	if !qs[2].KubernetesOnly || qs[1].KubernetesOnly || !qs[5].Annotation {
		t.Errorf("flags lost: %+v", qs)
	}
	if len(dec.Annotations.List) != 2 || dec.Annotations.List[0].BuiltIn != 1 || dec.Annotations.List[1].Expr != "k6_vus > 0" {
		t.Errorf("annotations: %+v", dec.Annotations.List)
	}
	if dec.Templating.List[0].Definition != "label_values(up, namespace)" || dec.Templating.List[0].Datasource.UID != "ds" {
		t.Errorf("query variable: %+v", dec.Templating.List[0])
	}
	var q string
	if err := json.Unmarshal(dec.Templating.List[1].Query, &q); err != nil || q != "0.5" {
		t.Errorf("textbox query %s: %v", dec.Templating.List[1].Query, err)
	}
	// Legacy keys of the SDK are gone.
	for _, k := range []string{`"rows"`, `"slug"`, `"isNew"`, `"span"`, `"originalTitle"`} {
		if bytes.Contains(b, []byte(k)) {
			t.Errorf("JSON still has %s", k)
		}
	}
}

func TestJSONIsDeterministic(t *testing.T) {
	a, err := testDashboard().JSON()
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		b, err := testDashboard().JSON()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Fatal("two renders differ")
		}
	}
	if !bytes.HasSuffix(a, []byte("}\n")) {
		t.Error("no trailing newline")
	}
}

func TestBuildErrors(t *testing.T) {
	cases := map[string]func(*Dashboard){
		"needs a uid":        func(d *Dashboard) { d.UID = "" },
		"no datasource uid":  func(d *Dashboard) { d.Datasource.UID = "" },
		"has no expression":  func(d *Dashboard) { d.Rows[0].Panels[0].Targets[0].Expr = " " },
		"no type or title":   func(d *Dashboard) { d.Rows[0].Panels[1].Title = "" },
		"unknown type":       func(d *Dashboard) { d.Variables[1].Type = "interval" },
		"variable has no na": func(d *Dashboard) { d.Variables[0].Name = "" },
	}
	for want, mutate := range cases {
		d := testDashboard()
		mutate(d)
		if _, err := d.JSON(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want error containing %q, got %v", want, err)
		}
	}
}

func TestInterpolate(t *testing.T) {
	vars := map[string]string{"ns": "a|b", "price": "0.5"}
	for in, want := range map[string]string{
		`rate(x{ns=~"$ns"}[$__rate_interval])`:      `rate(x{ns=~"a|b"}[1m])`,
		`x{ns=~"${ns}"} * ${price:raw} * [[price]]`: `x{ns=~"a|b"} * 0.5 * 0.5`,
		`label_replace(x, "a", "$1", "b", "(.*)")`:  `label_replace(x, "a", "$1", "b", "(.*)")`,
		`increase(x[$__range])`:                     `increase(x[1h])`,
	} {
		got, err := Interpolate(in, vars)
		if err != nil || got != want {
			t.Errorf("Interpolate(%s) = %s, %v; want %s", in, got, err, want)
		}
	}
	if got, _ := Interpolate("x[$__range]", map[string]string{"__range": "5m"}); got != "x[5m]" {
		t.Errorf("built-in not overridden: %s", got)
	}
	_, err := Interpolate(`x{a="$missing", b="$other", c="$missing"}`, nil)
	if err == nil || !strings.Contains(err.Error(), "missing, other") {
		t.Errorf("unknown variables: %v", err)
	}
	if refs := VariableRefs(`$a ${b} [[c]] $__range $1 $a`); strings.Join(refs, ",") != "a,b,c,__range" {
		t.Errorf("VariableRefs = %v", refs)
	}
}

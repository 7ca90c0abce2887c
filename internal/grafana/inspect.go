package grafana

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Builtins are the values Interpolate gives Grafana's global variables
// unless the caller overrides them.
func Builtins() map[string]string {
	return map[string]string{
		"__rate_interval": "1m",
		"__interval":      "15s",
		"__interval_ms":   "15000",
		"__range":         "1h",
		"__range_s":       "3600",
		"__range_ms":      "3600000",
	}
}

// varRef matches $name, ${name}, ${name:format} and [[name]].
var varRef = regexp.MustCompile(`\$\{([A-Za-z_]\w*)(?::\w+)?\}|\[\[([A-Za-z_]\w*)\]\]|\$([A-Za-z_]\w*)`)

// VariableRefs returns the names of the variables an expression uses,
// in order of first use, built-ins included.
func VariableRefs(s string) []string {
	var out []string
	for _, m := range varRef.FindAllStringSubmatch(s, -1) {
		name := m[1] + m[2] + m[3]
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// Interpolate substitutes variables the way Grafana does for a single
// selected value: vars maps a name (without $) to its value; Builtins fill
// the global variables the caller does not set. A variable without a value
// is an error naming it.
func Interpolate(s string, vars map[string]string) (string, error) {
	all := Builtins()
	for k, v := range vars {
		all[k] = v
	}
	var missing []string
	out := varRef.ReplaceAllStringFunc(s, func(ref string) string {
		m := varRef.FindStringSubmatch(ref)
		name := m[1] + m[2] + m[3]
		v, ok := all[name]
		if !ok {
			if !slices.Contains(missing, name) {
				missing = append(missing, name)
			}
			return ref
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("no value for variable(s) %s in %q", strings.Join(missing, ", "), s)
	}
	return out, nil
}

// Decoded is the part of a dashboard JSON file tests inspect.
type Decoded struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []DecodedVariable `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []DecodedAnnotation `json:"list"`
	} `json:"annotations"`
	Panels []DecodedPanel `json:"panels"`
}

// DecodedVariable is a template variable as written.
type DecodedVariable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Definition string          `json:"definition"`
	Query      json.RawMessage `json:"query"`
	Datasource *DatasourceRef  `json:"datasource"`
}

// DecodedAnnotation is an annotation query as written.
type DecodedAnnotation struct {
	Name       string          `json:"name"`
	Expr       string          `json:"expr"`
	BuiltIn    int             `json:"builtIn"`
	Datasource json.RawMessage `json:"datasource"`
}

// DecodedPanel is a panel as written.
type DecodedPanel struct {
	ID          int            `json:"id"`
	Type        string         `json:"type"`
	Title       string         `json:"title"`
	Description string         `json:"description"`
	Datasource  *DatasourceRef `json:"datasource"`
	GridPos     struct {
		X, Y, W, H int
	} `json:"gridPos"`
	Targets []struct {
		RefID      string         `json:"refId"`
		Expr       string         `json:"expr"`
		Datasource *DatasourceRef `json:"datasource"`
		Instant    bool           `json:"instant"`
		Legend     string         `json:"legendFormat"`
	} `json:"targets"`
	FieldConfig struct {
		Defaults struct {
			Unit       string `json:"unit"`
			Thresholds struct {
				Steps []json.RawMessage `json:"steps"`
			} `json:"thresholds"`
		} `json:"defaults"`
		Overrides []json.RawMessage `json:"overrides"`
	} `json:"fieldConfig"`
	Options json.RawMessage `json:"options"`
}

// Decode reads a dashboard JSON file.
func Decode(b []byte) (*Decoded, error) {
	var d Decoded
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("decode dashboard: %w", err)
	}
	return &d, nil
}

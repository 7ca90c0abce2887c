package report

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Sample is one element of an instant vector.
type Sample struct {
	Labels map[string]string
	Value  float64
	Time   time.Time
}

// Point is one value of a range-query series.
type Point struct {
	T time.Time
	V float64
}

// Series is one series of a range query.
type Series struct {
	Labels map[string]string
	Points []Point
}

// Prom is a small client of the Prometheus HTTP API (/api/v1/query and
// /api/v1/query_range); float results only.
type Prom struct {
	base   *url.URL
	client *http.Client
}

// NewProm returns a client for the Prometheus at base (http://host:port).
func NewProm(base string, client *http.Client) (*Prom, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("report: Prometheus URL %q: want e.g. http://127.0.0.1:9090", redactURL(base))
	}
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	return &Prom{base: u, client: client}, nil
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}

type apiResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

func (p *Prom) do(ctx context.Context, path string, form url.Values) (*apiResponse, error) {
	u := *p.base
	u.Path += path
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("report: query Prometheus at %s: %w", p.base.Redacted(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("report: read Prometheus answer: %w", err)
	}
	var r apiResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("report: Prometheus at %s answered HTTP %d, not the query API", p.base.Redacted(), resp.StatusCode)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("report: Prometheus query %q: %s: %s", form.Get("query"), r.ErrorType, r.Error)
	}
	return &r, nil
}

// Query evaluates q at t (an instant vector or scalar).
func (p *Prom) Query(ctx context.Context, q string, t time.Time) ([]Sample, error) {
	r, err := p.do(ctx, "/api/v1/query", url.Values{"query": {q}, "time": {formatTime(t)}})
	if err != nil {
		return nil, err
	}
	if r.Data.ResultType != "vector" {
		return nil, fmt.Errorf("report: query %q returned a %s, want a vector", q, r.Data.ResultType)
	}
	var result []json.RawMessage
	if err := json.Unmarshal(r.Data.Result, &result); err != nil {
		return nil, fmt.Errorf("report: decode query %q: %w", q, err)
	}
	var out []Sample
	for _, raw := range result {
		var s struct {
			Metric map[string]string `json:"metric"`
			Value  []json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("report: decode query %q: %w", q, err)
		}
		if len(s.Value) != 2 { // a native histogram sample: not a float
			continue
		}
		ts, v, err := decodePair(s.Value)
		if err != nil {
			return nil, fmt.Errorf("report: decode query %q: %w", q, err)
		}
		out = append(out, Sample{Labels: s.Metric, Value: v, Time: ts})
	}
	return out, nil
}

// QueryRange evaluates q over [start, end] every step.
func (p *Prom) QueryRange(ctx context.Context, q string, start, end time.Time, step time.Duration) ([]Series, error) {
	r, err := p.do(ctx, "/api/v1/query_range", url.Values{
		"query": {q}, "start": {formatTime(start)}, "end": {formatTime(end)},
		"step": {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)},
	})
	if err != nil {
		return nil, err
	}
	if r.Data.ResultType != "matrix" {
		return nil, fmt.Errorf("report: range query %q returned a %s, want a matrix", q, r.Data.ResultType)
	}
	return decodeMatrix(q, r.Data.Result)
}

// Raw returns the raw samples of a range selector (e.g. m{testid="x"}[7d]) at t.
func (p *Prom) Raw(ctx context.Context, selector string, t time.Time) ([]Series, error) {
	r, err := p.do(ctx, "/api/v1/query", url.Values{"query": {selector}, "time": {formatTime(t)}})
	if err != nil {
		return nil, err
	}
	if r.Data.ResultType != "matrix" {
		return nil, fmt.Errorf("report: query %q returned a %s, want a matrix", selector, r.Data.ResultType)
	}
	return decodeMatrix(selector, r.Data.Result)
}

func decodeMatrix(q string, data json.RawMessage) ([]Series, error) {
	var result []json.RawMessage
	if err := json.Unmarshal(data, &result); err != nil {
		return nil, fmt.Errorf("report: decode query %q: %w", q, err)
	}
	var out []Series
	for _, raw := range result {
		var s struct {
			Metric map[string]string   `json:"metric"`
			Values [][]json.RawMessage `json:"values"`
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("report: decode query %q: %w", q, err)
		}
		ser := Series{Labels: s.Metric}
		for _, pair := range s.Values {
			ts, v, err := decodePair(pair)
			if err != nil {
				return nil, fmt.Errorf("report: decode query %q: %w", q, err)
			}
			ser.Points = append(ser.Points, Point{T: ts, V: v})
		}
		if len(ser.Points) > 0 {
			out = append(out, ser)
		}
	}
	return out, nil
}

func decodePair(pair []json.RawMessage) (time.Time, float64, error) {
	if len(pair) != 2 {
		return time.Time{}, 0, fmt.Errorf("sample of %d elements", len(pair))
	}
	var ts float64
	if err := json.Unmarshal(pair[0], &ts); err != nil {
		return time.Time{}, 0, err
	}
	var vs string
	if err := json.Unmarshal(pair[1], &vs); err != nil {
		return time.Time{}, 0, err
	}
	v, err := parseValue(vs)
	if err != nil {
		return time.Time{}, 0, err
	}
	sec, frac := math.Modf(ts)
	return time.Unix(int64(sec), int64(math.Round(frac*1e3))*int64(time.Millisecond)).UTC(), v, nil
}

func parseValue(s string) (float64, error) {
	switch s {
	case "NaN":
		return math.NaN(), nil
	case "+Inf":
		return math.Inf(1), nil
	case "-Inf":
		return math.Inf(-1), nil
	}
	return strconv.ParseFloat(s, 64)
}

func formatTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1e3, 'f', 3, 64)
}

package instrument

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// With an OTLP endpoint, requests get server spans that are exported, and
// the latency histogram (only it) carries exemplars with the trace ID on
// an OpenMetrics scrape.
func TestTracingAndExemplars(t *testing.T) {
	var posts atomic.Int64
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/traces" && r.Method == http.MethodPost {
			posts.Add(1)
		}
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collector.Close()

	i, err := New(Config{OTLPEndpoint: collector.URL})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		i.Cache("users").Hit(r.Context())
	})
	h := i.Middleware(mux)
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	req := httptest.NewRequest(http.MethodGet, "/users/7", nil)
	req.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	h.ServeHTTP(httptest.NewRecorder(), req)

	rec := httptest.NewRecorder()
	sreq := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	sreq.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	i.MetricsHandler().ServeHTTP(rec, sreq)
	body := rec.Body.String()
	var exemplarLines []string
	for _, l := range strings.Split(body, "\n") {
		if strings.Contains(l, " # {") {
			exemplarLines = append(exemplarLines, l)
		}
	}
	if len(exemplarLines) != 1 || !strings.HasPrefix(exemplarLines[0], "http_server_request_duration_seconds_bucket{") ||
		!strings.Contains(exemplarLines[0], `trace_id="`+traceID+`"`) {
		t.Errorf("want one exemplar with the trace ID on the latency histogram, got %q", exemplarLines)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := i.Shutdown(ctx); err != nil { // flushes the batch span processor
		t.Fatalf("Shutdown: %v", err)
	}
	if posts.Load() == 0 {
		t.Error("no span was exported to the OTLP endpoint")
	}
}

func TestNoExemplarsWithoutTracing(t *testing.T) {
	i := newTest(t, Config{})
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	i.Middleware(http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), req)
	if _, body := scrape(t, i); strings.Contains(body, "trace_id") {
		t.Errorf("exemplars without tracing:\n%s", body)
	}
}

package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/loadlens/loadlens/internal/loadtest"
)

// TestAnnotateGrafana checks the region annotation a run posts to Grafana.
func TestAnnotateGrafana(t *testing.T) {
	var got struct {
		Time, TimeEnd int64
		Tags          []string
		Text          string
	}
	var auth, path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth, path = r.Header.Get("Authorization"), r.URL.Path
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Write([]byte(`{"id":1}`))
	}))
	defer srv.Close()
	start := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	res := loadtest.Result{TestID: "load-1", Scenario: "load", Start: start, End: start.Add(time.Minute)}
	if err := annotate(context.Background(), srv.URL+"/", "tok", res); err != nil {
		t.Fatal(err)
	}
	if path != "/api/annotations" || auth != "Bearer tok" {
		t.Errorf("POST %s with Authorization %q", path, auth)
	}
	if got.Time != start.UnixMilli() || got.TimeEnd != start.Add(time.Minute).UnixMilli() ||
		!slices.Contains(got.Tags, "testid:load-1") || got.Text == "" {
		t.Errorf("annotation %+v", got)
	}

	fail := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusUnauthorized)
	}))
	defer fail.Close()
	if err := annotate(context.Background(), fail.URL, "", res); err == nil {
		t.Error("a 401 from Grafana was not reported")
	}
}

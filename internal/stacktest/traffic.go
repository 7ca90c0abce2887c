package stacktest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// TrafficStats counts what a Traffic run sent.
type TrafficStats struct {
	Requests, Errors atomic.Int64 // errors: transport errors and 5xx
}

// Traffic sends a read-mostly mix (GET user, GET post, list, PATCH user)
// to the demo at baseURL with the given number of workers, until ctx ends.
// Users and posts are picked from 1..users and 1..posts. Wait for the
// returned function to stop the workers.
func Traffic(ctx context.Context, baseURL string, workers, users, posts int) (*TrafficStats, func()) {
	stats := &TrafficStats{}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ctx.Err() == nil; i += workers {
				var req *http.Request
				switch i % 10 {
				case 0:
					req, _ = http.NewRequestWithContext(ctx, http.MethodPatch, fmt.Sprintf("%s/users/%d", baseURL, 1+i%users),
						strings.NewReader(fmt.Sprintf(`{"email":"user%d@example.com"}`, i)))
					req.Header.Set("Content-Type", "application/json")
				case 1:
					req, _ = http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/posts?limit=20", nil)
				case 2, 3, 4:
					req, _ = http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/posts/%d", baseURL, 1+i%posts), nil)
				default:
					req, _ = http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/users/%d", baseURL, 1+i%users), nil)
				}
				resp, err := client.Do(req)
				if ctx.Err() != nil {
					return
				}
				stats.Requests.Add(1)
				if err != nil {
					stats.Errors.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode >= 500 {
					stats.Errors.Add(1)
				}
			}
		}()
	}
	return stats, func() { cancel(); wg.Wait(); client.CloseIdleConnections() }
}

// PromAPI returns a Prometheus HTTP API client for url.
func PromAPI(t testing.TB, url string) promv1.API {
	t.Helper()
	c, err := promapi.NewClient(promapi.Config{Address: url})
	if err != nil {
		t.Fatal(err)
	}
	return promv1.NewAPI(c)
}

// Query runs an instant PromQL query now and returns its vector.
func Query(t testing.TB, url, q string) model.Vector {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, _, _, err := PromAPI(t, url).Query(ctx, q, time.Now())
	if err != nil {
		t.Fatalf("query %s: %v", q, err)
	}
	vec, ok := v.(model.Vector)
	if !ok {
		t.Fatalf("query %s: got %s, want a vector", q, v.Type())
	}
	return vec
}

// Eventually polls cond every interval until it returns "" (done) or the
// deadline passes, then fails the test with the last reason.
func Eventually(t testing.TB, timeout, interval time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		why := cond()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, why)
		}
		time.Sleep(interval)
	}
}

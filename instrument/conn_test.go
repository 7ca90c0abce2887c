package instrument

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// callsHandler makes as many (fake) Redis calls with the request's context
// as its {n} path value says, through the Redis hook.
func callsHandler(i *Instrumentation) http.Handler {
	call := i.RedisHook("redis").ProcessHook(func(context.Context, redis.Cmder) error { return nil })
	mux := http.NewServeMux()
	mux.HandleFunc("GET /calls/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		for range n {
			_ = call(r.Context(), redis.NewStringCmd(r.Context(), "get", "k"))
		}
	})
	return i.Middleware(mux)
}

// queriesPerRequest returns the count and sum of app_db_queries_per_request
// for route /calls/{n}.
func queriesPerRequest(t *testing.T, i *Instrumentation) (count uint64, sum float64) {
	t.Helper()
	fams, body := scrape(t, i)
	m := find(fams["app_db_queries_per_request"], map[string]string{"http_route": "/calls/{n}"})
	if m == nil {
		t.Fatalf("no app_db_queries_per_request{http_route=\"/calls/{n}\"}:\n%s", body)
	}
	return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
}

func get(t *testing.T, c *http.Client, url string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Error(err)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
}

// With ConnContext, the requests of one keep-alive connection share the
// connection's counter: each request still gets its own count.
func TestConnContextKeepAlive(t *testing.T) {
	i := newTest(t, Config{})
	srv := httptest.NewUnstartedServer(callsHandler(i))
	srv.Config.ConnContext = i.ConnContext
	srv.Start()
	defer srv.Close()
	c := srv.Client()
	want := []int{3, 0, 5, 1, 2}
	total := 0
	for _, n := range want {
		get(t, c, fmt.Sprintf("%s/calls/%d", srv.URL, n))
		total += n
	}
	count, sum := queriesPerRequest(t, i)
	if count != uint64(len(want)) || sum != float64(total) {
		t.Errorf("app_db_queries_per_request: count %d sum %v, want %d and %d", count, sum, len(want), total)
	}
}

// HTTP/2 serves concurrent requests on one connection: the ones that find
// the connection's counter taken fall back to a counter of their own.
func TestConnContextConcurrentStreams(t *testing.T) {
	i := newTest(t, Config{})
	const n = 8
	var inside sync.WaitGroup
	inside.Add(n)
	release := make(chan struct{})
	inner := callsHandler(i)
	var mu sync.Mutex
	peers := map[string]bool{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner.ServeHTTP(w, r)
		if r.ProtoMajor != 2 {
			t.Errorf("request served over HTTP/%d.%d, want HTTP/2", r.ProtoMajor, r.ProtoMinor)
		}
		if r.URL.Path == "/calls/0" {
			return // the warm-up request
		}
		mu.Lock()
		peers[r.RemoteAddr] = true
		mu.Unlock()
		inside.Done()
		<-release
	})
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.Config.ConnContext = i.ConnContext
	srv.StartTLS()
	defer srv.Close()
	c := srv.Client()
	get(t, c, srv.URL+"/calls/0") // one connection, which the streams below share
	var done sync.WaitGroup
	for k := 1; k <= n; k++ {
		done.Go(func() { get(t, c, fmt.Sprintf("%s/calls/%d", srv.URL, k)) })
	}
	inside.Wait()
	close(release)
	done.Wait()
	if len(peers) != 1 {
		t.Errorf("the requests came over %d connections, want 1", len(peers))
	}
	count, sum := queriesPerRequest(t, i)
	if count != n+1 || sum != n*(n+1)/2 {
		t.Errorf("app_db_queries_per_request: count %d sum %v, want %d and %d", count, sum, n+1, n*(n+1)/2)
	}
}

// A goroutine that outlives its request does not count its calls to the
// next request of the connection.
func TestConnContextStrayGoroutine(t *testing.T) {
	i := newTest(t, Config{})
	call := i.RedisHook("redis").ProcessHook(func(context.Context, redis.Cmder) error { return nil })
	stray := make(chan context.Context, 1)
	next := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /calls/{n}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("n") == "first" {
			stray <- r.Context()
			return
		}
		next <- struct{}{} // the second request is in progress
		<-next
	})
	srv := httptest.NewUnstartedServer(i.Middleware(mux))
	srv.Config.ConnContext = i.ConnContext
	srv.Start()
	defer srv.Close()
	c := srv.Client()
	get(t, c, srv.URL+"/calls/first")
	ctx := <-stray
	done := make(chan struct{})
	go func() {
		defer close(done)
		get(t, c, srv.URL+"/calls/second")
	}()
	<-next
	_ = call(ctx, redis.NewStringCmd(ctx, "get", "k")) // after its request ended
	next <- struct{}{}
	<-done
	count, sum := queriesPerRequest(t, i)
	if count != 2 || sum != 0 {
		t.Errorf("app_db_queries_per_request: count %d sum %v, want 2 requests with 0 calls", count, sum)
	}
}

// The steady-state HTTP path allocates nothing beyond what the ServeMux
// allocates itself (a wildcard's value) when the server sets ConnContext,
// and one object (the counter with the request copy) without it.
func TestMiddlewareAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	i := newTest(t, Config{})
	mux := benchMux()
	mux.HandleFunc("GET /users", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	h := i.Middleware(mux)
	w := &nopWriter{h: http.Header{}}
	allocs := func(h http.Handler, r *http.Request) float64 {
		h.ServeHTTP(w, r) // route and attribute caches
		return testing.AllocsPerRun(1000, func() { h.ServeHTTP(w, r) })
	}
	for _, tc := range []struct {
		name        string
		target      string
		connContext func(context.Context, net.Conn) context.Context
		extra       float64 // allocations beyond the mux's own
	}{
		{"conncontext", "/users", i.ConnContext, 0},
		{"conncontext wildcard", "/users/42", i.ConnContext, 0},
		{"no conncontext", "/users/42", nil, 1},
	} {
		r := serverRequest(t, tc.target, tc.connContext)
		muxOnly := allocs(mux, serverRequest(t, tc.target, nil))
		if got := allocs(h, r); got != muxOnly+tc.extra {
			t.Errorf("%s: %v allocations per request, the mux alone %v: want %v beyond it", tc.name, got, muxOnly, tc.extra)
		}
	}
}

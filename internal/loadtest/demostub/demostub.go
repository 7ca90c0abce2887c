// Package demostub is a test stand-in for the demo service's HTTP API: the
// same routes and status codes with canned bodies, on a loopback httptest
// server. It lets the k6 scenarios and the report be tested without
// PostgreSQL and Redis; the full-stack check runs the real service.
package demostub

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Options shape the stub's behaviour.
type Options struct {
	// Status, when set, is returned by every API route instead of 200/201.
	Status int
	// SlowAbove and SlowDelay: while more than SlowAbove client connections
	// sent requests within the last half second, every request waits
	// SlowDelay (0: never slow). k6 gives each VU its own connection, so one
	// VU sees a fast service and several a slow one: a breaking point.
	SlowAbove int
	SlowDelay time.Duration
	// Metrics, when set, is served at /metrics (e.g. a client_golang handler).
	Metrics http.Handler
}

// Server is a running stub.
type Server struct {
	URL      string
	Requests atomic.Int64 // API requests served

	mu      sync.Mutex
	clients map[string]time.Time // remote address → last request
}

// recentClients records the request's connection and counts the
// connections seen within the last half second.
func (s *Server) recentClients(remote string) int {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[remote] = now
	n := 0
	for addr, last := range s.clients {
		if now.Sub(last) > 500*time.Millisecond {
			delete(s.clients, addr)
			continue
		}
		n++
	}
	return n
}

// Start starts a stub on 127.0.0.1 and closes it when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{clients: map[string]time.Time{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", s.api(opts, http.StatusOK, func(r *http.Request) any {
		return map[string]any{"id": id(r), "email": fmt.Sprintf("user%d@example.com", id(r))}
	}))
	mux.HandleFunc("PATCH /users/{id}", s.api(opts, http.StatusOK, func(r *http.Request) any {
		var body struct {
			Email string `json:"email"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		return map[string]any{"id": id(r), "email": body.Email}
	}))
	mux.HandleFunc("GET /users", s.api(opts, http.StatusOK, func(*http.Request) any {
		return map[string]any{"users": []any{map[string]any{"id": 1}}, "next_cursor": "2"}
	}))
	mux.HandleFunc("POST /posts", s.api(opts, http.StatusCreated, func(*http.Request) any {
		return map[string]any{"id": 1}
	}))
	mux.HandleFunc("GET /posts/{id}", s.api(opts, http.StatusOK, func(r *http.Request) any {
		return map[string]any{"id": id(r), "user_id": 1, "title": "t", "body": "b"}
	}))
	mux.HandleFunc("GET /posts", s.api(opts, http.StatusOK, func(*http.Request) any {
		return map[string]any{"posts": []any{}, "next_cursor": ""}
	}))
	if opts.Metrics != nil {
		mux.Handle("GET /metrics", opts.Metrics)
	}
	srv := httptest.NewServer(mux) // binds 127.0.0.1
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

func (s *Server) api(opts Options, status int, body func(*http.Request) any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.Requests.Add(1)
		if opts.SlowDelay > 0 && s.recentClients(r.RemoteAddr) > opts.SlowAbove {
			select {
			case <-time.After(opts.SlowDelay):
			case <-r.Context().Done():
				return
			}
		}
		if opts.Status != 0 {
			status = opts.Status
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body(r))
	}
}

func id(r *http.Request) int {
	n, _ := strconv.Atoi(r.PathValue("id"))
	return n
}

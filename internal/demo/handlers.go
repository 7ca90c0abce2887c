package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Pagination bounds.
const (
	defaultLimit = 20
	maxLimit     = 100
	maxTitleLen  = 200
	maxPostLen   = 10000
	maxEmailLen  = 254
)

// api holds the handlers' dependencies.
type api struct {
	store *Store
	cache *Cache // nil when the cache is disabled
	s     *Server
}

func (a *api) routes(mux *http.ServeMux, wrap func(http.HandlerFunc) http.Handler) {
	mux.Handle("GET /users/{id}", wrap(a.getUser))
	mux.Handle("PATCH /users/{id}", wrap(a.patchUser))
	mux.Handle("GET /users", wrap(a.listUsers))
	mux.Handle("POST /posts", wrap(a.createPost))
	mux.Handle("GET /posts/{id}", wrap(a.getPost))
	mux.Handle("GET /posts", wrap(a.listPosts))
}

type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"cannot encode response"}`)
	}
	writeRawJSON(w, status, b)
}

var newline = []byte("\n")

// writeRawJSON answers with b, already encoded JSON (a cache hit). The
// newline is a second write into the response buffer rather than an append,
// which would copy b (a Redis reply has no spare capacity).
func writeRawJSON(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
	_, _ = w.Write(newline)
}

func writeError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, errorBody{Error: fmt.Sprintf(format, args...)})
}

// fail answers a store error: 404, 409, 422, 503 when the database is
// unreachable, saturated or too slow, 500 for anything else.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, "not found")
	case errors.Is(err, ErrEmailTaken):
		writeError(w, http.StatusConflict, "email is already used by another user")
	case errors.Is(err, ErrUnknownUserID):
		writeError(w, http.StatusUnprocessableEntity, "user_id does not exist")
	case isPgError(err):
		a.s.logger.Error("database statement failed", "route", r.Pattern, "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
	default:
		if r.Context().Err() != nil {
			// The client went away; nobody reads the answer.
			writeError(w, http.StatusServiceUnavailable, "request cancelled")
			return
		}
		a.s.dbLog.Warn("database unavailable", "route", r.Pattern, "err", err)
		w.Header().Set("Retry-After", "1")
		if errors.Is(err, context.DeadlineExceeded) {
			// Pool saturated (acquire timed out) or statement too slow.
			writeError(w, http.StatusServiceUnavailable, "database timeout")
			return
		}
		writeError(w, http.StatusServiceUnavailable, "database unavailable")
	}
}

// pathID parses the {id} wildcard: a positive decimal integer.
func pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := parsePositive(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "id must be a positive integer")
		return 0, false
	}
	return id, true
}

// parsePositive accepts only ASCII digits (no sign, no spaces) of a value
// in 1..MaxInt64.
func parsePositive(s string) (int64, error) {
	n, err := parseNonNegative(s)
	if err == nil && n == 0 {
		err = errors.New("zero")
	}
	return n, err
}

func parseNonNegative(s string) (int64, error) {
	if s == "" || len(s) > 19 {
		return 0, errors.New("bad length")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New("not a digit")
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

// page parses limit (1..100, default 20) and cursor (the last id seen, a
// non-negative integer, default 0).
func page(w http.ResponseWriter, r *http.Request) (after int64, limit int, ok bool) {
	q := r.URL.Query()
	limit = defaultLimit
	if v, present := q["limit"]; present {
		n, err := parsePositive(v[0])
		if err != nil || len(v) > 1 || n > maxLimit {
			writeError(w, http.StatusBadRequest, "limit must be an integer between 1 and %d", maxLimit)
			return 0, 0, false
		}
		limit = int(n)
	}
	if v, present := q["cursor"]; present && !(len(v) == 1 && v[0] == "") {
		n, err := parseNonNegative(v[0])
		if err != nil || len(v) > 1 {
			writeError(w, http.StatusBadRequest, "cursor must be the next_cursor of a previous page (a non-negative integer)")
			return 0, 0, false
		}
		after = n
	}
	return after, limit, true
}

func nextCursor(more bool, lastID int64) string {
	if !more {
		return ""
	}
	return strconv.FormatInt(lastID, 10)
}

// decode reads exactly one JSON object into dst: at most MaxBodyBytes,
// no unknown fields, nothing after it.
func decode(w http.ResponseWriter, r *http.Request, dst any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			writeError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
			return false
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		if dec.More() {
			err = errors.New("trailing data after the JSON object")
		} else if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("trailing data after the JSON object")
			if terr != nil && !isSyntax(terr) {
				err = terr
			}
		}
	}
	if err == nil {
		return true
	}
	var mbe *http.MaxBytesError
	var ute *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		writeError(w, http.StatusRequestEntityTooLarge, "request body exceeds %d bytes", MaxBodyBytes)
	case errors.Is(err, io.EOF):
		writeError(w, http.StatusBadRequest, "request body is empty, want a JSON object")
	case errors.As(err, &ute):
		writeError(w, http.StatusBadRequest, "field %q must be of type %s", ute.Field, ute.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		writeError(w, http.StatusBadRequest, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	case errors.Is(err, io.ErrUnexpectedEOF):
		writeError(w, http.StatusBadRequest, "malformed JSON: unexpected end of body")
	default:
		writeError(w, http.StatusBadRequest, "malformed JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return false
}

func isSyntax(err error) bool {
	var se *json.SyntaxError
	return errors.As(err, &se)
}

func (a *api) getUser(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	if a.cache != nil {
		if b := a.cache.GetUser(r.Context(), id); b != nil {
			writeRawJSON(w, http.StatusOK, b)
			return
		}
	}
	u, err := a.store.GetUser(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if a.cache != nil {
		a.cache.SetUser(r.Context(), u)
	}
	writeJSON(w, http.StatusOK, u)
}

type patchUserRequest struct {
	Email *string `json:"email"`
}

// validEmail accepts a bare address (no display name) of at most 254 bytes.
func validEmail(s string) bool {
	if len(s) > maxEmailLen || !utf8.ValidString(s) {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s && strings.Contains(s, "@")
}

func (a *api) patchUser(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var req patchUserRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Email == nil {
		writeError(w, http.StatusBadRequest, "field \"email\" is required")
		return
	}
	if !validEmail(*req.Email) {
		writeError(w, http.StatusBadRequest, "field \"email\" must be an email address like name@example.com (at most %d bytes)", maxEmailLen)
		return
	}
	u, err := a.store.UpdateUserEmail(r.Context(), id, *req.Email)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	// The UPDATE has committed: drop the cached copy now.
	if a.cache != nil {
		_ = a.cache.InvalidateUser(r.Context(), id)
	}
	writeJSON(w, http.StatusOK, u)
}

type userPage struct {
	Users      []User `json:"users"`
	NextCursor string `json:"next_cursor"`
}

func (a *api) listUsers(w http.ResponseWriter, r *http.Request) {
	after, limit, ok := page(w, r)
	if !ok {
		return
	}
	us, more, err := a.store.ListUsers(r.Context(), after, limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p := userPage{Users: us, NextCursor: nextCursor(more, lastID(us, func(u User) int64 { return u.ID }))}
	if p.Users == nil {
		p.Users = []User{}
	}
	writeJSON(w, http.StatusOK, p)
}

type createPostRequest struct {
	UserID *int64  `json:"user_id"`
	Title  *string `json:"title"`
	Body   *string `json:"body"`
}

func (a *api) createPost(w http.ResponseWriter, r *http.Request) {
	var req createPostRequest
	if !decode(w, r, &req) {
		return
	}
	var msg string
	switch {
	case req.UserID == nil || *req.UserID <= 0:
		msg = "field \"user_id\" is required and must be a positive integer"
	case req.Title == nil || strings.TrimSpace(*req.Title) == "":
		msg = "field \"title\" is required and must not be blank"
	case utf8.RuneCountInString(*req.Title) > maxTitleLen || !utf8.ValidString(*req.Title):
		msg = fmt.Sprintf("field \"title\" must be valid UTF-8 of at most %d characters", maxTitleLen)
	case req.Body == nil:
		msg = "field \"body\" is required"
	case utf8.RuneCountInString(*req.Body) > maxPostLen || !utf8.ValidString(*req.Body):
		msg = fmt.Sprintf("field \"body\" must be valid UTF-8 of at most %d characters", maxPostLen)
	case strings.ContainsRune(*req.Title, 0) || strings.ContainsRune(*req.Body, 0):
		msg = "fields must not contain NUL characters"
	}
	if msg != "" {
		writeError(w, http.StatusBadRequest, "%s", msg)
		return
	}
	p, err := a.store.CreatePost(r.Context(), *req.UserID, *req.Title, *req.Body)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/posts/"+strconv.FormatInt(p.ID, 10))
	writeJSON(w, http.StatusCreated, p)
}

func (a *api) getPost(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	if a.cache != nil {
		if b := a.cache.GetPost(r.Context(), id); b != nil {
			writeRawJSON(w, http.StatusOK, b)
			return
		}
	}
	p, err := a.store.GetPost(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if a.cache != nil {
		a.cache.SetPost(r.Context(), p)
	}
	writeJSON(w, http.StatusOK, p)
}

type postPage struct {
	Posts      []Post `json:"posts"`
	NextCursor string `json:"next_cursor"`
}

func (a *api) listPosts(w http.ResponseWriter, r *http.Request) {
	after, limit, ok := page(w, r)
	if !ok {
		return
	}
	var userID int64
	if v, present := r.URL.Query()["user_id"]; present {
		n, err := parsePositive(v[0])
		if err != nil || len(v) > 1 {
			writeError(w, http.StatusBadRequest, "user_id must be a positive integer")
			return
		}
		userID = n
	}
	ps, more, err := a.store.ListPosts(r.Context(), userID, after, limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p := postPage{Posts: ps, NextCursor: nextCursor(more, lastID(ps, func(p Post) int64 { return p.ID }))}
	if p.Posts == nil {
		p.Posts = []Post{}
	}
	writeJSON(w, http.StatusOK, p)
}

func lastID[T any](xs []T, id func(T) int64) int64 {
	if len(xs) == 0 {
		return 0
	}
	return id(xs[len(xs)-1])
}

package demo

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// User is a row of users.
type User struct {
	ID        int64     `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Post is a row of posts.
type Post struct {
	ID        int64     `json:"id"`
	UserID    int64     `json:"user_id"`
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
}

// Store errors the handlers map to status codes. Any other error is a
// database availability problem (503) unless it is a PostgreSQL error the
// store does not know (500): see statusOf.
var (
	ErrNotFound      = errors.New("not found")
	ErrEmailTaken    = errors.New("email already used by another user")
	ErrUnknownUserID = errors.New("user_id does not exist")
)

// querier is what both *pgxpool.Pool and *pgxpool.Conn offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Store runs the service's SQL. Every operation runs under its own
// deadline (pool acquire included) and, with a query delay, sleeps in
// PostgreSQL on its connection first.
type Store struct {
	pool    *pgxpool.Pool
	timeout time.Duration
	delay   time.Duration
	// lastOK is the UnixNano of the last operation that reached PostgreSQL
	// successfully; /readyz trusts it instead of competing for a
	// connection of a saturated pool.
	lastOK atomic.Int64
}

// NewStore wraps pool.
func NewStore(pool *pgxpool.Pool, timeout, queryDelay time.Duration) *Store {
	return &Store{pool: pool, timeout: timeout, delay: queryDelay}
}

func (s *Store) run(ctx context.Context, fn func(context.Context, querier) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var err error
	if s.delay <= 0 {
		err = fn(ctx, s.pool)
	} else {
		err = s.withDelay(ctx, fn)
	}
	switch {
	case err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrEmailTaken) || errors.Is(err, ErrUnknownUserID) || isPgError(err):
		s.lastOK.Store(time.Now().UnixNano())
	case !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled):
		// Connection refused, reset, server shutting down: let /readyz
		// check for itself. (A deadline means "slow or saturated", which a
		// readiness ping queued behind the same pool would not improve.)
		s.lastOK.Store(0)
	}
	return err
}

// withDelay holds one connection across pg_sleep and the statement, so
// that the delay shows as busy connections and queued acquires.
func (s *Store) withDelay(ctx context.Context, fn func(context.Context, querier) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_sleep($1)", s.delay.Seconds()); err != nil {
		return err
	}
	return fn(ctx, conn)
}

// Ping checks PostgreSQL: recent success counts, else one round trip.
func (s *Store) Ping(ctx context.Context, fresh time.Duration) error {
	if time.Since(time.Unix(0, s.lastOK.Load())) < fresh {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.pool.Ping(ctx); err != nil {
		return err
	}
	s.lastOK.Store(time.Now().UnixNano())
	return nil
}

const userColumns = "id, email, name, created_at, updated_at"
const postColumns = "id, user_id, title, body, created_at"

func scanUser(row pgx.Row) (User, error) {
	var u User
	err := row.Scan(&u.ID, &u.Email, &u.Name, &u.CreatedAt, &u.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return u, ErrNotFound
	}
	return u, err
}

func scanPost(row pgx.Row) (Post, error) {
	var p Post
	err := row.Scan(&p.ID, &p.UserID, &p.Title, &p.Body, &p.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, ErrNotFound
	}
	return p, err
}

// GetUser returns the user with the id, or ErrNotFound.
func (s *Store) GetUser(ctx context.Context, id int64) (u User, err error) {
	err = s.run(ctx, func(ctx context.Context, q querier) error {
		u, err = scanUser(q.QueryRow(ctx, "SELECT "+userColumns+" FROM users WHERE id = $1", id))
		return err
	})
	return u, err
}

// UpdateUserEmail sets the email and returns the updated user. The single
// statement commits before it returns.
func (s *Store) UpdateUserEmail(ctx context.Context, id int64, email string) (u User, err error) {
	err = s.run(ctx, func(ctx context.Context, q querier) error {
		u, err = scanUser(q.QueryRow(ctx,
			"UPDATE users SET email = $2, updated_at = now() WHERE id = $1 RETURNING "+userColumns, id, email))
		if pgCode(err) == "23505" {
			return ErrEmailTaken
		}
		return err
	})
	return u, err
}

// ListUsers returns up to limit users with id > after, by id, and whether
// more follow.
func (s *Store) ListUsers(ctx context.Context, after int64, limit int) (us []User, more bool, err error) {
	err = s.run(ctx, func(ctx context.Context, q querier) error {
		rows, err := q.Query(ctx, "SELECT "+userColumns+" FROM users WHERE id > $1 ORDER BY id LIMIT $2", after, limit+1)
		if err != nil {
			return err
		}
		us, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (User, error) { return scanUser(r) })
		return err
	})
	if len(us) > limit {
		us, more = us[:limit], true
	}
	return us, more, err
}

// CreatePost inserts a post, or returns ErrUnknownUserID.
func (s *Store) CreatePost(ctx context.Context, userID int64, title, body string) (p Post, err error) {
	err = s.run(ctx, func(ctx context.Context, q querier) error {
		p, err = scanPost(q.QueryRow(ctx,
			"INSERT INTO posts (user_id, title, body) VALUES ($1, $2, $3) RETURNING "+postColumns, userID, title, body))
		if pgCode(err) == "23503" {
			return ErrUnknownUserID
		}
		return err
	})
	return p, err
}

// GetPost returns the post with the id, or ErrNotFound.
func (s *Store) GetPost(ctx context.Context, id int64) (p Post, err error) {
	err = s.run(ctx, func(ctx context.Context, q querier) error {
		p, err = scanPost(q.QueryRow(ctx, "SELECT "+postColumns+" FROM posts WHERE id = $1", id))
		return err
	})
	return p, err
}

// ListPosts returns up to limit posts with id > after, by id, of one user
// when userID > 0, and whether more follow.
func (s *Store) ListPosts(ctx context.Context, userID, after int64, limit int) (ps []Post, more bool, err error) {
	err = s.run(ctx, func(ctx context.Context, q querier) error {
		var rows pgx.Rows
		var err error
		if userID > 0 {
			rows, err = q.Query(ctx, "SELECT "+postColumns+" FROM posts WHERE user_id = $1 AND id > $2 ORDER BY id LIMIT $3",
				userID, after, limit+1)
		} else {
			rows, err = q.Query(ctx, "SELECT "+postColumns+" FROM posts WHERE id > $1 ORDER BY id LIMIT $2", after, limit+1)
		}
		if err != nil {
			return err
		}
		ps, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Post, error) { return scanPost(r) })
		return err
	})
	if len(ps) > limit {
		ps, more = ps[:limit], true
	}
	return ps, more, err
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// isPgError reports whether PostgreSQL itself answered with an error about
// the statement (the server is reachable and working). Classes 08
// (connection), 53 (insufficient resources: too many clients) and 57
// (operator intervention: shutdown, statement cancelled) mean "the database
// cannot serve now" instead.
func isPgError(err error) bool {
	c := pgCode(err)
	if len(c) < 2 {
		return false
	}
	switch c[:2] {
	case "08", "53", "57":
		return false
	}
	return true
}

package exporter

import (
	"net/url"
	"regexp"
	"strings"
)

const redacted = "xxxxx"

var kvPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s]+)`)

// RedactDSN returns dsn with its password masked, in URL or key=value
// form. It is best effort on malformed input and never returns the
// password of a well-formed DSN.
func RedactDSN(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		if u, err := url.Parse(dsn); err == nil {
			q := u.Query()
			if q.Has("password") {
				q.Set("password", redacted)
				u.RawQuery = q.Encode()
			}
			if _, ok := u.User.Password(); ok {
				u.User = url.UserPassword(u.User.Username(), redacted)
			}
			return u.String()
		}
		// Unparseable URL: mask everything between "://" and the last "@".
		scheme, rest, _ := strings.Cut(dsn, "://")
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			return scheme + "://" + redacted + rest[at:]
		}
		return scheme + "://" + redacted
	}
	return kvPassword.ReplaceAllString(dsn, "${1}"+redacted)
}

// dsnPassword extracts the password of dsn on a best-effort basis, so that
// error text can be scrubbed of it even when the DSN does not parse.
func dsnPassword(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		if u, err := url.Parse(dsn); err == nil {
			if p, ok := u.User.Password(); ok {
				return p
			}
			return u.Query().Get("password")
		}
		_, rest, _ := strings.Cut(dsn, "://")
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if _, p, ok := strings.Cut(rest[:at], ":"); ok {
				return p
			}
		}
		return ""
	}
	if m := kvPassword.FindStringSubmatch(dsn); m != nil {
		return strings.Trim(m[2], "'")
	}
	return ""
}

// scrubber removes a secret from text that is about to leave the process
// (errors, logs, readiness bodies).
type scrubber struct{ secrets []string }

func newScrubber(secrets ...string) scrubber {
	var s scrubber
	for _, v := range secrets {
		if v == "" {
			continue
		}
		s.secrets = append(s.secrets, v)
		if e := url.QueryEscape(v); e != v {
			s.secrets = append(s.secrets, e)
		}
		if e := url.PathEscape(v); e != v {
			s.secrets = append(s.secrets, e)
		}
	}
	return s
}

func (s scrubber) text(t string) string {
	for _, v := range s.secrets {
		t = strings.ReplaceAll(t, v, redacted)
	}
	return t
}

// scrubbedError keeps the error chain (errors.Is/As) but prints without the secret.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

func (s scrubber) err(err error) error {
	if err == nil {
		return nil
	}
	return &scrubbedError{msg: s.text(err.Error()), err: err}
}

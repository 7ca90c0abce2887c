package stack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresSuperuser is the superuser initdb creates in every stack.
const PostgresSuperuser = "postgres"

// postgresOS is the operating-system identity PostgreSQL runs as. initdb
// and postgres refuse to run as root, so root runs them as "postgres".
type postgresOS struct {
	cred     *syscall.Credential
	uid, gid int
	name     string
}

func postgresIdentity() (postgresOS, error) {
	if os.Geteuid() != 0 {
		return postgresOS{uid: os.Getuid(), gid: os.Getgid(), name: "current user"}, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return postgresOS{}, errors.New(`running as root needs the "postgres" operating-system user to run PostgreSQL: run "make setup" (installs postgresql-15, which creates it)`)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return postgresOS{cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid: uid, gid: gid, name: "postgres"}, nil
}

// postgresPart runs PostgreSQL 15 with pg_stat_statements preloaded.
func postgresPart(cfg *Config) *part {
	return &part{
		name:     "postgres",
		portFlag: "--postgres.port",
		port:     cfg.Ports.Postgres,
		prepare: func(ctx context.Context, st *PartState) (*command, error) {
			bindir, err := postgresBinDir()
			if err != nil {
				return nil, err
			}
			id, err := postgresIdentity()
			if err != nil {
				return nil, err
			}
			base := filepath.Join(cfg.Dir, "postgres")
			data := filepath.Join(base, "data")
			sock := filepath.Join(base, "socket")
			pwFile := filepath.Join(cfg.Dir, "postgres.password")
			st.DataDir = data
			st.PasswordFile = pwFile
			st.User = PostgresSuperuser
			st.Binary = filepath.Join(bindir, "postgres")
			st.Address = hostPort(st.Port)
			st.DSN = fmt.Sprintf("postgres://%s@%s/postgres?sslmode=disable", PostgresSuperuser, st.Address)
			for _, d := range []string{base, sock} {
				if err := os.MkdirAll(d, 0o700); err != nil {
					return nil, err
				}
				if err := os.Chown(d, id.uid, id.gid); err != nil {
					return nil, err
				}
			}
			if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
				if err := initdb(ctx, bindir, id, base, data, pwFile, st.LogFile); err != nil {
					return nil, err
				}
			}
			conf := []string{
				"listen_addresses = '127.0.0.1'",
				"port = " + strconv.Itoa(st.Port),
				"unix_socket_directories = '" + sock + "'",
				"max_connections = " + strconv.Itoa(cfg.PostgresMaxConnections),
				"shared_preload_libraries = 'pg_stat_statements'",
				"pg_stat_statements.track = top",
				"pg_stat_statements.max = 5000",
				"track_io_timing = on",
				"logging_collector = off",
				"log_min_duration_statement = -1",
			}
			if cfg.PostgresNoFsync {
				conf = append(conf, "fsync = off", "synchronous_commit = off", "full_page_writes = off")
			}
			if err := writeOwned(filepath.Join(data, "loadlens.conf"), strings.Join(conf, "\n")+"\n", 0o600, id); err != nil {
				return nil, err
			}
			return &command{binary: st.Binary, args: []string{"-D", data}, cred: id.cred, dir: base}, nil
		},
		ready: func(ctx context.Context, st PartState) error {
			conn, err := connectPostgres(ctx, st, "postgres")
			if err != nil {
				return err
			}
			defer conn.Close(context.Background())
			_, err = conn.Exec(ctx, "SELECT 1")
			return err
		},
		afterReady: func(ctx context.Context, st PartState) error {
			if cfg.PostgresNoStatStatements {
				return nil
			}
			// Created in template1 too, so every new database has it.
			for _, db := range []string{"postgres", "template1"} {
				conn, err := connectPostgres(ctx, st, db)
				if err != nil {
					return err
				}
				_, err = conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
				conn.Close(context.Background())
				if err != nil {
					return fmt.Errorf("create pg_stat_statements in %s: %w", db, err)
				}
			}
			return nil
		},
		stop: func(ctx context.Context, st PartState, done <-chan struct{}) error {
			if !processAlive(st.PID, st.Binary) {
				return nil
			}
			bindir := filepath.Dir(st.Binary)
			id, err := postgresIdentity()
			if err == nil {
				cmd := exec.CommandContext(ctx, filepath.Join(bindir, "pg_ctl"), "stop", "-D", st.DataDir, "-m", "fast", "-w", "-t", "30")
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: id.cred}
				if out, err := cmd.CombinedOutput(); err == nil {
					return waitExit(ctx, st.PID, st.Binary, done)
				} else if processAlive(st.PID, st.Binary) {
					appendLog(st.LogFile, "pg_ctl stop failed: "+strings.TrimSpace(string(out)))
				}
			}
			// SIGINT is PostgreSQL's fast shutdown.
			return terminate(st.PID, st.Binary, syscall.SIGINT, 15*time.Second, done)
		},
	}
}

func initdb(ctx context.Context, bindir string, id postgresOS, base, data, pwFile, logFile string) error {
	password, err := randomPassword()
	if err != nil {
		return err
	}
	// initdb reads the password from a file the postgres user can read;
	// it is removed right after. The stack's copy stays readable by the
	// stack's owner only.
	tmpPw := filepath.Join(base, "initdb.pw")
	if err := writeOwned(tmpPw, password+"\n", 0o600, id); err != nil {
		return err
	}
	defer os.Remove(tmpPw)
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bindir, "initdb"),
		"-D", data, "-U", PostgresSuperuser, "--pwfile", tmpPw,
		"--auth-local=trust", "--auth-host=scram-sha-256",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: id.cred}
	cmd.Dir = base
	out, err := cmd.CombinedOutput()
	appendLog(logFile, string(out))
	if err != nil {
		os.RemoveAll(data)
		return fmt.Errorf("initdb failed (see %s): %s", logFile, lastLine(string(out)))
	}
	conf := filepath.Join(data, "postgresql.conf")
	f, err := os.OpenFile(conf, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString("\n# loadlens: settings the stack rewrites at every start\ninclude_if_exists = 'loadlens.conf'\n")
	return err
}

// ReadPassword returns the PostgreSQL superuser password of a stack.
func ReadPassword(st PartState) (string, error) {
	b, err := os.ReadFile(st.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("read the PostgreSQL password: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// PostgresDSN returns the DSN of database db with the password filled in.
func PostgresDSN(st PartState, db string) (string, error) {
	pw, err := ReadPassword(st)
	if err != nil {
		return "", err
	}
	u := url.URL{Scheme: "postgres", User: url.UserPassword(st.User, pw), Host: st.Address, Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String(), nil
}

func connectPostgres(ctx context.Context, st PartState, db string) (*pgx.Conn, error) {
	dsn, err := PostgresDSN(st, db)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return pgx.Connect(cctx, dsn)
}

func randomPassword() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func writeOwned(path, content string, mode os.FileMode, id postgresOS) error {
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		return err
	}
	return os.Chown(path, id.uid, id.gid)
}

func appendLog(path, text string) {
	if text == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	f.WriteString(text)
	if !strings.HasSuffix(text, "\n") {
		f.WriteString("\n")
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

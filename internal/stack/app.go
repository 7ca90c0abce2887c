package stack

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The loadlens binaries the stack runs besides the third-party servers.
const (
	DemoBinary     = "loadlens-demo"
	ExporterBinary = "loadlens-exporter"
	// BuildCommand is what a person runs to build the loadlens binaries.
	BuildCommand = "make build"
)

// Demo modes (see loadlens-demo --mode).
const (
	DemoModeNaive = "naive"
	DemoModeTuned = "tuned"
)

// appBinary finds a loadlens binary: in Config.BinDir, beside the running
// executable (bin/loadlens finds bin/loadlens-demo), then on PATH.
func appBinary(cfg *Config, name string) (string, error) {
	var dirs []string
	if cfg.BinDir != "" {
		dirs = append(dirs, cfg.BinDir)
	}
	if d := os.Getenv("LOADLENS_BIN_DIR"); d != "" {
		dirs = append(dirs, d)
	}
	if exe, err := os.Executable(); err == nil {
		dirs = append(dirs, filepath.Dir(exe))
	}
	p, err := lookPath(dirs, name)
	if err != nil {
		return "", fmt.Errorf("%s not found (looked in %s and PATH): run %q", name, strings.Join(dirs, ", "), BuildCommand)
	}
	return p, nil
}

// postgresEnv returns the DSN of the stack's database as an environment
// variable, so the password never shows in a process listing.
func postgresEnv(s *Stack) ([]string, error) {
	pg, ok := s.Part(PartPostgres)
	if !ok {
		return nil, fmt.Errorf("needs the %s part", PartPostgres)
	}
	dsn, err := PostgresDSN(pg, "postgres")
	if err != nil {
		return nil, err
	}
	return []string{"LOADLENS_POSTGRES_DSN=" + dsn}, nil
}

func redisAddr(s *Stack) string {
	if r, ok := s.Part(PartRedis); ok {
		return r.Address
	}
	return ""
}

// demoPart runs loadlens-demo against the stack's PostgreSQL and Redis and
// seeds its tables once it is ready.
func demoPart(s *Stack) *part {
	cfg := &s.cfg
	return &part{
		name:     PartDemo,
		portFlag: "--demo.port",
		port:     cfg.Ports.Demo,
		prepare: func(ctx context.Context, st *PartState) (*command, error) {
			bin, err := appBinary(cfg, DemoBinary)
			if err != nil {
				return nil, err
			}
			env, err := postgresEnv(s)
			if err != nil {
				return nil, err
			}
			admin, err := freePort()
			if err != nil {
				return nil, err
			}
			st.Binary = bin
			st.Address = hostPort(st.Port)
			st.URL = "http://" + st.Address
			st.AdminAddress = hostPort(admin)
			mode := cfg.DemoMode
			if mode == "" {
				mode = DemoModeTuned
			}
			st.Mode = mode
			st.Users, st.Posts = cfg.SeedUsers, cfg.SeedPosts
			args := []string{"serve",
				"--web.listen-address=" + st.Address,
				"--admin.listen-address=" + st.AdminAddress,
				"--mode=" + mode,
				"--web.shutdown-delay=0s",
			}
			if a := redisAddr(s); a != "" {
				args = append(args, "--redis.addr="+a)
			} else {
				args = append(args, "--redis.addr=")
			}
			args = append(args, cfg.DemoArgs...)
			return &command{binary: bin, args: args, env: env, dir: cfg.Dir}, nil
		},
		ready: httpReady("/readyz"),
		afterReady: func(ctx context.Context, st PartState) error {
			if cfg.SeedUsers <= 0 {
				return nil
			}
			env, err := postgresEnv(s)
			if err != nil {
				return err
			}
			cmd := exec.CommandContext(ctx, st.Binary, "seed",
				fmt.Sprintf("--users=%d", cfg.SeedUsers), fmt.Sprintf("--posts=%d", cfg.SeedPosts))
			cmd.Env = append(os.Environ(), env...)
			out, err := cmd.CombinedOutput()
			appendLog(st.LogFile, "--- loadlens: seed\n"+strings.TrimSpace(string(out)))
			if err != nil {
				return fmt.Errorf("seed: %v: %s", err, lastLine(strings.TrimSpace(string(out))))
			}
			return nil
		},
		stop: func(ctx context.Context, st PartState, done <-chan struct{}) error {
			return terminate(st.PID, st.Binary, syscall.SIGTERM, 15*time.Second, done)
		},
	}
}

// exporterPart runs loadlens-exporter as the demo's sidecar.
func exporterPart(s *Stack) *part {
	cfg := &s.cfg
	return &part{
		name:     PartExporter,
		portFlag: "--exporter.port",
		port:     cfg.Ports.Exporter,
		prepare: func(ctx context.Context, st *PartState) (*command, error) {
			bin, err := appBinary(cfg, ExporterBinary)
			if err != nil {
				return nil, err
			}
			var env []string
			if _, ok := s.Part(PartPostgres); ok {
				if env, err = postgresEnv(s); err != nil {
					return nil, err
				}
			}
			st.Binary = bin
			st.Address = hostPort(st.Port)
			st.URL = "http://" + st.Address
			args := []string{"--web.listen-address=" + st.Address}
			if a := redisAddr(s); a != "" {
				env = append(env, "LOADLENS_REDIS_ADDR="+a)
			}
			args = append(args, cfg.ExporterArgs...)
			return &command{binary: bin, args: args, env: env, dir: cfg.Dir}, nil
		},
		ready: httpReady("/healthz"),
		stop: func(ctx context.Context, st PartState, done <-chan struct{}) error {
			return terminate(st.PID, st.Binary, syscall.SIGTERM, 10*time.Second, done)
		},
	}
}

// BuildBinaries builds loadlens-demo and loadlens-exporter from the
// repository into outDir with the go tool (tests; people run make build).
func BuildBinaries(ctx context.Context, repoRoot, outDir string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", outDir+string(os.PathSeparator),
		"./cmd/"+DemoBinary, "./cmd/"+ExporterBinary)
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build the loadlens binaries: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

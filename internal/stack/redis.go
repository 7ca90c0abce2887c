package stack

import (
	"context"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisPart runs Redis without persistence.
func redisPart(cfg *Config) *part {
	return &part{
		name:     "redis",
		portFlag: "--redis.port",
		port:     cfg.Ports.Redis,
		prepare: func(ctx context.Context, st *PartState) (*command, error) {
			bin, err := lookPath(nil, "redis-server")
			if err != nil {
				return nil, err
			}
			dir := filepath.Join(cfg.Dir, "redis")
			if err := mkdirs(dir); err != nil {
				return nil, err
			}
			st.Binary = bin
			st.Address = hostPort(st.Port)
			st.DataDir = dir
			args := []string{
				"--bind", loopback, "--port", strconv.Itoa(st.Port),
				"--save", "", "--appendonly", "no", "--dir", dir,
				"--daemonize", "no", "--logfile", "",
			}
			if cfg.RedisMaxMemory != "" {
				args = append(args, "--maxmemory", cfg.RedisMaxMemory, "--maxmemory-policy", "allkeys-lru")
			}
			return &command{binary: bin, args: args, dir: dir}, nil
		},
		ready: func(ctx context.Context, st PartState) error {
			c := redis.NewClient(&redis.Options{Addr: st.Address, DialTimeout: time.Second, ReadTimeout: time.Second, PoolSize: 1, MaxRetries: -1})
			defer c.Close()
			return c.Ping(ctx).Err()
		},
		stop: func(ctx context.Context, st PartState, done <-chan struct{}) error {
			return terminate(st.PID, st.Binary, syscall.SIGTERM, 10*time.Second, done)
		},
	}
}

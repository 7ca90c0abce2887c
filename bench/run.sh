#!/usr/bin/env bash
# loadlens benchmarks (issues 3 and 4): ratios measured in one run, never
# pass/fail. See bench/README.md for what each part measures and the results.
#
#   bench/run.sh [all|demo|exporter]      (default: all; 3-4 minutes)
#
#   demo      demo service throughput vs a hello-world ceiling (wrk), and
#             instrumentation overhead (instrument package on vs off)
#   exporter  loadlens-exporter vs Debian's postgres and redis exporters,
#             under pgbench load and with every connection slot taken
#
# Everything runs on 127.0.0.1 on free ports: PostgreSQL and Redis from the
# stack harness (internal/stack, as `loadlens up` and the tests), binaries
# built into a temporary directory. Results: reports/bench/<time>/
# (results.tsv raw, results.md tables, logs/). Installs the two reference
# exporters with apt-get when they are missing (root), like scripts/setup.sh.
#
# Knobs (environment): BENCH_DURATION (s per wrk run, 3), BENCH_ROUNDS (6),
# BENCH_CONNECTIONS (64), BENCH_THREADS (2), BENCH_SCRAPES (100),
# BENCH_EXHAUSTED_SCRAPES (20), BENCH_OUT (reports/bench/<time>),
# BENCH_KEEP=1 keeps the temporary directory (PostgreSQL data, binaries).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

WHAT=${1:-all}
case $WHAT in all | demo | exporter) ;; *)
  echo "usage: bench/run.sh [all|demo|exporter]" >&2
  exit 2
  ;;
esac
DURATION=${BENCH_DURATION:-3}
ROUNDS=${BENCH_ROUNDS:-6}
CONNS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
SCRAPES=${BENCH_SCRAPES:-100}
EXHAUSTED_SCRAPES=${BENCH_EXHAUSTED_SCRAPES:-20}
OUT=${BENCH_OUT:-$ROOT/reports/bench/$(date -u +%Y%m%dT%H%M%SZ)}
USERS=10000
HOT_USERS=1000 # cached GETs read users 1..1000; PATCHes write users 5001..10000

log() { printf '%s bench: %s\n' "$(date +%T)" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# ---------------------------------------------------------------- checks
PGBIN=/usr/lib/postgresql/15/bin
for t in wrk go redis-server; do
  command -v "$t" >/dev/null || die "$t not found: run 'make setup'"
done
[ -x "$PGBIN/postgres" ] || die "PostgreSQL 15 not found in $PGBIN: run 'make setup'"
[ -x "$PGBIN/pgbench" ] || command -v pgbench >/dev/null || die "pgbench not found"
PGBENCH=$PGBIN/pgbench
[ -x "$PGBENCH" ] || PGBENCH=$(command -v pgbench)

if [ "$WHAT" != demo ]; then
  missing=()
  for p in prometheus-postgres-exporter prometheus-redis-exporter; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || die "missing ${missing[*]}: run as root: apt-get install -y --no-install-recommends ${missing[*]}"
    log "installing the reference exporters: ${missing[*]}"
    # Processes of these binaries before the install: any new one afterwards
    # was started by the package's service scripts, because of us.
    before=$(pgrep -x -d ' ' 'prometheus-post|prometheus-redi' || true)
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
    for p in "${missing[@]}"; do
      for pid in $(pgrep -x "${p:0:15}" || true); do
        case " $before " in *" $pid "*) continue ;; esac
        log "the install started $p (pid $pid) on its default port: stopping that service"
        if [ -d /run/systemd/system ]; then
          systemctl stop "$p" || true
          systemctl disable "$p" || true
        else
          invoke-rc.d "$p" stop || service "$p" stop || true
        fi
      done
    done
  fi
fi

# ---------------------------------------------------------------- processes
WORK=$(mktemp -d /tmp/loadlens-bench.XXXXXX)
chmod 755 "$WORK" # PostgreSQL runs as the postgres user under it
mkdir -p "$OUT/logs"
RESULTS=$OUT/results.tsv
: >"$RESULTS"
PIDS=()      # started daemons, in start order
declare -A CMD # pid -> binary, to check a pid is still ours before signalling

# start NAME [env VAR=x...] BINARY ARGS...: run a daemon in the background,
# output to logs/NAME.log; its pid in $STARTED. env execs the binary under
# the same pid, and keeps secrets such as the DSN out of the command line.
start() {
  local name=$1
  shift
  "$@" >"$OUT/logs/$name.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  local bin=$1
  [ "$bin" = env ] && for a in "$@"; do case $a in *=*) ;; env) ;; *)
    bin=$a
    break
    ;;
  esac done
  CMD[$pid]=$bin
  STARTED=$pid
  # Until the forked shell has exec'd the binary, the pid does not look ours.
  local i
  for ((i = 0; i < 100; i++)); do
    ours "$pid" && return 0
    [ -e "/proc/$pid" ] || return 0 # exited already: the caller's checks say so
    sleep 0.05
  done
}

ours() { # pid: alive and still running the binary we started
  local pid=$1
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "${CMD[$pid]}"
}

stop() { # pid: SIGTERM, up to 15 s, then SIGKILL; reap
  local pid=$1 i
  if ours "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
      ours "$pid" || break
      sleep 0.1
    done
    ours "$pid" && kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null || true
  unset "CMD[$pid]"
}

cleanup() {
  local rc=$? i
  trap - EXIT INT TERM
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    [ -n "${CMD[${PIDS[$i]}]:-}" ] && stop "${PIDS[$i]}"
  done
  if [ "${BENCH_KEEP:-}" = 1 ]; then
    log "kept $WORK"
  else
    rm -rf "$WORK"
  fi
  [ $rc -eq 0 ] || log "failed (exit $rc); logs in $OUT/logs"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

alive() { ours "$1" || die "$2 exited: see $OUT/logs/$2.log"; }
wait_http() { # name pid url
  "$WORK/bin/benchtool" wait-http --timeout 60s --pid "$2" "$3" || { alive "$2" "$1"; die "$1 not ready at $3"; }
}
info() { printf 'info\t%s\t%s\n' "$1" "$2" >>"$RESULTS"; }

# ---------------------------------------------------------------- build, stack
log "building into $WORK/bin"
# Built like the release images (Dockerfile): static, trimmed, stripped. The
# exporter's RSS is measured, and a dynamically linked build maps libc too.
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$WORK/bin/" ./cmd/loadlens-demo ./cmd/loadlens-exporter ./bench/benchtool ./bench/hello ./bench/instrsrv
B=$WORK/bin

if [ "$WHAT" != exporter ]; then
  log "go test -bench ./instrument/ (per-call cost and allocations of the instrumentation)"
  go test -run '^$' -bench . -benchtime 300ms -benchmem ./instrument/ >"$OUT/gobench.txt" 2>&1 ||
    die "go test -bench failed: see $OUT/gobench.txt"
fi

log "starting PostgreSQL and Redis (internal/stack)"
start stack "$B/benchtool" stack --dir "$WORK/stack" --env "$WORK/stack.env" --postgres.max-connections 200
STACK_PID=$STARTED
for ((i = 0; i < 600; i++)); do
  [ -f "$WORK/stack.env" ] && break
  alive "$STACK_PID" stack
  sleep 0.1
done
[ -f "$WORK/stack.env" ] || die "PostgreSQL and Redis not ready after 60 s"
# shellcheck source=/dev/null
. "$WORK/stack.env" # PG_DSN (with password), PG_*, REDIS_ADDR, *_PID
export PGHOST=$PG_HOST PGPORT=$PG_PORT PGUSER=$PG_USER PGPASSWORD=$PG_PASSWORD PGDATABASE=postgres

info date "$(date -u +%FT%TZ)"
info machine "$(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
info load "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
if awk -v n="$(nproc)" '{ exit !($1 > n / 2) }' /proc/loadavg; then
  info warning "the machine was busy before the run started (load average above half the CPUs): absolute numbers are low and noisy; ratios within a round suffer less"
fi
info versions "loadlens $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- . ':!bench' 2>/dev/null || echo +changes), $(go version | cut -d' ' -f3), $("$PGBIN/postgres" --version), Redis $(redis-server --version | cut -d' ' -f3 | cut -d= -f2), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)"
info wrk "-t$THREADS -c$CONNS -d${DURATION}s, $ROUNDS rounds, ids uniform at random (bench/wrk/users.lua)"

log "seeding $USERS users"
env LOADLENS_POSTGRES_DSN="$PG_DSN" "$B/loadlens-demo" seed --users $USERS --posts 20000 >>"$OUT/logs/seed.log" 2>&1 ||
  die "seed failed: see $OUT/logs/seed.log"

# cpu_ticks PID: user+system CPU time of a process, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
TCK=$(getconf CLK_TCK)

# record GROUP LABEL ROUND WRK_OUTPUT CPU_TICKS_BEFORE CPU_TICKS_AFTER: one
# results line per wrk run, with the server process's CPU seconds during it.
record() {
  local group=$1 label=$2 round=$3 out=$4 c0=$5 c1=$6 line
  printf '### %s / %s / round %s\n%s\n' "$group" "$label" "$round" "$out" >>"$OUT/logs/wrk.log"
  line=$(grep '^BENCH' <<<"$out") || die "no result from wrk for $label: $out"
  printf 'wrk\t%s\t%s\t%s\t%s\t%s\n' "$group" "$label" "$round" "$(cut -f2- <<<"$line")" \
    "$(awk -v a="$c0" -v b="$c1" -v t="$TCK" 'BEGIN { printf "%.2f", (b - a) / t }')" >>"$RESULTS"
  log "$group / $label / round $round: $(cut -f2 <<<"$line") req/s, p99 $(cut -f4 <<<"$line") ms"
}

# wrk_run THREADS CONNECTIONS URL MODE LO HI NONCE: the measured wrk command.
wrk_run() {
  wrk -t"$1" -c"$2" -d"${DURATION}s" --timeout 5s -s "$ROOT/bench/wrk/users.lua" "$3" -- "$4" "$5" "$6" "$7" 2>&1
}

# run_wrk GROUP LABEL ROUND SERVER_PID URL MODE LO HI: one server alone.
run_wrk() {
  local group=$1 label=$2 round=$3 pid=$4 url=$5 mode=$6 lo=$7 hi=$8 out c0
  ours "$pid" || die "the server of '$label' exited (logs in $OUT/logs)"
  c0=$(cpu_ticks "$pid")
  out=$(wrk_run "$THREADS" "$CONNS" "$url" "$mode" "$lo" "$hi" "$round$RANDOM") || die "wrk failed on $url: $out"
  record "$group" "$label" "$round" "$out" "$c0" "$(cpu_ticks "$pid")"
}

# run_pair GROUP ROUND MODE LO HI LABEL_A PID_A URL_A LABEL_B PID_B URL_B:
# two servers loaded at the same time, each by its own wrk with half the
# threads and connections, so that whatever else runs on the machine
# weighs on both alike. Both being CPU-bound on a shared CPU, their
# throughput ratio is the inverse ratio of their CPU cost per request.
run_pair() {
  local group=$1 round=$2 mode=$3 lo=$4 hi=$5 la=$6 pa=$7 ua=$8 lb=$9 pb=${10} ub=${11} wa wb ca cb
  local t=$(((THREADS + 1) / 2)) c=$((CONNS / 2))
  ours "$pa" || die "the server of '$la' exited (logs in $OUT/logs)"
  ours "$pb" || die "the server of '$lb' exited (logs in $OUT/logs)"
  ca=$(cpu_ticks "$pa") cb=$(cpu_ticks "$pb")
  wrk_run "$t" "$c" "$ua" "$mode" "$lo" "$hi" "a$round" >"$WORK/wrk-a.out" &
  wa=$!
  wrk_run "$t" "$c" "$ub" "$mode" "$lo" "$hi" "b$round" >"$WORK/wrk-b.out" &
  wb=$!
  wait "$wa" || die "wrk failed on $ua: $(cat "$WORK/wrk-a.out")"
  wait "$wb" || die "wrk failed on $ub: $(cat "$WORK/wrk-b.out")"
  record "$group" "$la" "$round" "$(cat "$WORK/wrk-a.out")" "$ca" "$(cpu_ticks "$pa")"
  record "$group" "$lb" "$round" "$(cat "$WORK/wrk-b.out")" "$cb" "$(cpu_ticks "$pb")"
}
warm() { # URL MODE LO HI: unmeasured run (fills caches and pools)
  wrk -t"$THREADS" -c"$CONNS" -d2s -s "$ROOT/bench/wrk/users.lua" "$1" -- "$2" "$3" "$4" warm >/dev/null 2>&1
}

# ---------------------------------------------------------------- demo
if [ "$WHAT" != exporter ]; then
  read -r P_HELLO P_TUNED P_TUNED_ADM P_NOCACHE P_NOCACHE_ADM P_HOFF P_HON P_COFF P_CON < <("$B/benchtool" ports 9)
  start hello "$B/hello" --listen "127.0.0.1:$P_HELLO"
  HELLO_PID=$STARTED
  demo_flags=(--redis.addr "$REDIS_ADDR" --cache.ttl 10m --log.level warn --slow-query.threshold=-1s)
  start demo-tuned env LOADLENS_POSTGRES_DSN="$PG_DSN" "$B/loadlens-demo" --mode tuned "${demo_flags[@]}" \
    --web.listen-address "127.0.0.1:$P_TUNED" --admin.listen-address "127.0.0.1:$P_TUNED_ADM"
  TUNED_PID=$STARTED
  start demo-nocache env LOADLENS_POSTGRES_DSN="$PG_DSN" LOADLENS_CACHE_ENABLED=false "$B/loadlens-demo" --mode tuned "${demo_flags[@]}" \
    --web.listen-address "127.0.0.1:$P_NOCACHE" --admin.listen-address "127.0.0.1:$P_NOCACHE_ADM"
  NOCACHE_PID=$STARTED
  start instr-hello-off "$B/instrsrv" --handler hello --listen "127.0.0.1:$P_HOFF"
  HOFF_PID=$STARTED
  start instr-hello-on "$B/instrsrv" --handler hello --instrument --listen "127.0.0.1:$P_HON"
  HON_PID=$STARTED
  start instr-cached-off env LOADLENS_POSTGRES_DSN="$PG_DSN" "$B/instrsrv" --handler cached --redis.addr "$REDIS_ADDR" --listen "127.0.0.1:$P_COFF"
  COFF_PID=$STARTED
  start instr-cached-on env LOADLENS_POSTGRES_DSN="$PG_DSN" "$B/instrsrv" --handler cached --instrument --redis.addr "$REDIS_ADDR" --listen "127.0.0.1:$P_CON"
  CON_PID=$STARTED
  wait_http hello "$HELLO_PID" "http://127.0.0.1:$P_HELLO/"
  wait_http demo-tuned "$TUNED_PID" "http://127.0.0.1:$P_TUNED/readyz"
  wait_http demo-nocache "$NOCACHE_PID" "http://127.0.0.1:$P_NOCACHE/readyz"
  wait_http instr-hello-off "$HOFF_PID" "http://127.0.0.1:$P_HOFF/users/1"
  wait_http instr-hello-on "$HON_PID" "http://127.0.0.1:$P_HON/users/1"
  wait_http instr-cached-off "$COFF_PID" "http://127.0.0.1:$P_COFF/users/1"
  wait_http instr-cached-on "$CON_PID" "http://127.0.0.1:$P_CON/users/1"

  HELLO=http://127.0.0.1:$P_HELLO TUNED=http://127.0.0.1:$P_TUNED NOCACHE=http://127.0.0.1:$P_NOCACHE
  log "warming up (caches, pools)"
  warm "$HELLO" get 1 $HOT_USERS
  warm "$TUNED" get 1 $HOT_USERS
  warm "$NOCACHE" get 1 $USERS
  warm "http://127.0.0.1:$P_HOFF" get 1 $HOT_USERS
  warm "http://127.0.0.1:$P_HON" get 1 $HOT_USERS
  warm "http://127.0.0.1:$P_COFF" get 1 $HOT_USERS
  warm "http://127.0.0.1:$P_CON" get 1 $HOT_USERS

  # Cache hits and misses of the cached GETs (PATCH only invalidates ids
  # outside the hot set, and does no lookups).
  cache_count() { "$B/benchtool" counter "$TUNED/metrics" app_cache_requests_total cache_name=users cache_result="$1"; }
  hits0=$(cache_count hit) misses0=$(cache_count miss)

  log "throughput: $ROUNDS rounds of hello ceiling, cached GET, uncached GET, PATCH (${DURATION}s each)"
  for ((r = 1; r <= ROUNDS; r++)); do
    run_wrk throughput "hello-world net/http (ceiling)" $r "$HELLO_PID" "$HELLO" get 1 $HOT_USERS
    run_wrk throughput "GET /users/{id} cached" $r "$TUNED_PID" "$TUNED" get 1 $HOT_USERS
    run_wrk throughput "GET /users/{id} uncached" $r "$NOCACHE_PID" "$NOCACHE" get 1 $USERS
    run_wrk throughput "PATCH /users/{id}" $r "$TUNED_PID" "$TUNED" patch $((USERS / 2 + 1)) $USERS
  done
  hits=$(cache_count hit) misses=$(cache_count miss)
  info "cache hit ratio (cached GET runs)" "$(awk -v h="$hits" -v h0="$hits0" -v m="$misses" -v m0="$misses0" \
    'BEGIN { d = (h-h0)+(m-m0); if (d > 0) printf "%.4f (%d hits, %d misses)", (h-h0)/d, h-h0, m-m0; else print "n/a" }')"
  info "demo instances" "loadlens-demo --mode tuned (pgxpool 50, go-redis default pool), --cache.ttl 10m; uncached = same with LOADLENS_CACHE_ENABLED=false; PostgreSQL max_connections 200, fsync on"

  log "instrumentation overhead: $ROUNDS rounds, off and on loaded at the same time"
  info "overhead method" "instrsrv off and on loaded together by two wrk (-t$(((THREADS + 1) / 2)) -c$((CONNS / 2)) each) for ${DURATION}s, $ROUNDS rounds; ratios per round, then the median"
  for ((r = 1; r <= ROUNDS; r++)); do
    label="instrsrv --handler hello (middleware only)"
    run_pair overhead $r get 1 $HOT_USERS "$label off" "$HOFF_PID" "http://127.0.0.1:$P_HOFF" "$label on" "$HON_PID" "http://127.0.0.1:$P_HON"
    label="instrsrv --handler cached (middleware, pgx tracer, redis hook, pools, cache counters)"
    run_pair overhead $r get 1 $HOT_USERS "$label off" "$COFF_PID" "http://127.0.0.1:$P_COFF" "$label on" "$CON_PID" "http://127.0.0.1:$P_CON"
  done
  for pid in "$CON_PID" "$COFF_PID" "$HON_PID" "$HOFF_PID" "$NOCACHE_PID" "$TUNED_PID" "$HELLO_PID"; do stop "$pid"; done
fi

# ---------------------------------------------------------------- exporter
if [ "$WHAT" != demo ]; then
  PGX=/usr/bin/prometheus-postgres-exporter
  RDX=/usr/bin/prometheus-redis-exporter
  info "exporter versions" "$("$PGX" --version 2>&1 | head -1 | sed 's/ (.*//'), $("$RDX" -version 2>&1 | head -1 | sed 's/^.*Redis Metrics Exporter //; s/ .*//' | sed 's/^/redis_exporter /')"

  log "pgbench: initialising, then a steady light load (4 clients, 200 tps) for the exporter part"
  "$PGBENCH" -i -s 5 -q >>"$OUT/logs/pgbench-init.log" 2>&1 || die "pgbench -i failed: see $OUT/logs/pgbench-init.log"
  start pgbench "$PGBENCH" -n -c 4 -j 2 -R 200 -T 3600
  PGBENCH_PID=$STARTED
  stmts="the demo's statements"
  [ "$WHAT" = exporter ] && stmts="only the seed's statements (no demo load in this mode)"
  info "exporter load" "pgbench -c 4 -j 2 -R 200 (scale 5) on the same database, plus $stmts in pg_stat_statements; default flags for every exporter"

  read -r P_LL P_PG P_RD P_LL2 P_PG2 < <("$B/benchtool" ports 5)
  start loadlens-exporter env LOADLENS_POSTGRES_DSN="$PG_DSN" "$B/loadlens-exporter" \
    --web.listen-address "127.0.0.1:$P_LL" --redis.addr "$REDIS_ADDR" --log.level warn
  LL_PID=$STARTED
  start postgres_exporter env DATA_SOURCE_NAME="$PG_DSN" "$PGX" --web.listen-address "127.0.0.1:$P_PG" --log.level warn
  PGX_PID=$STARTED
  start redis_exporter "$RDX" -redis.addr "redis://$REDIS_ADDR" -web.listen-address "127.0.0.1:$P_RD"
  RD_PID=$STARTED
  wait_http loadlens-exporter "$LL_PID" "http://127.0.0.1:$P_LL/healthz"
  wait_http postgres_exporter "$PGX_PID" "http://127.0.0.1:$P_PG/"
  wait_http redis_exporter "$RD_PID" "http://127.0.0.1:$P_RD/"
  sleep 2 # a few pgbench transactions in

  log "scraping each exporter $SCRAPES times, in turn"
  "$B/benchtool" scrape --group exporter --n "$SCRAPES" --warmup 3 \
    "loadlens-exporter=http://127.0.0.1:$P_LL/metrics@$LL_PID" \
    "postgres_exporter=http://127.0.0.1:$P_PG/metrics@$PGX_PID" \
    "redis_exporter=http://127.0.0.1:$P_RD/metrics@$RD_PID" >>"$RESULTS"

  log "taking every PostgreSQL connection slot"
  start hold-postgres env PG_DSN="$PG_DSN" "$B/benchtool" hold-postgres --dsn-env PG_DSN --ready "$WORK/held"
  HOLD_PID=$STARTED
  for ((i = 0; i < 600; i++)); do
    [ -f "$WORK/held" ] && break
    alive "$HOLD_PID" hold-postgres
    sleep 0.1
  done
  [ -f "$WORK/held" ] || die "could not take the connection slots"
  info "exhaustion" "benchtool hold-postgres holds $(cat "$WORK/held") more connections (until PostgreSQL refuses); 'started before' exporters were connected, 'started during' ones start now"
  start loadlens-exporter-during env LOADLENS_POSTGRES_DSN="$PG_DSN" "$B/loadlens-exporter" \
    --web.listen-address "127.0.0.1:$P_LL2" --redis.addr "$REDIS_ADDR" --log.level warn
  LL2_PID=$STARTED
  start postgres_exporter-during env DATA_SOURCE_NAME="$PG_DSN" "$PGX" --web.listen-address "127.0.0.1:$P_PG2" --log.level warn
  PGX2_PID=$STARTED
  wait_http loadlens-exporter-during "$LL2_PID" "http://127.0.0.1:$P_LL2/healthz"
  wait_http postgres_exporter-during "$PGX2_PID" "http://127.0.0.1:$P_PG2/"

  log "scraping each exporter $EXHAUSTED_SCRAPES times while PostgreSQL refuses connections"
  "$B/benchtool" scrape --group exhausted --n "$EXHAUSTED_SCRAPES" --warmup 1 --timeout 15s \
    "loadlens-exporter (started before)=http://127.0.0.1:$P_LL/metrics@$LL_PID" \
    "postgres_exporter (started before)=http://127.0.0.1:$P_PG/metrics@$PGX_PID" \
    "loadlens-exporter (started during)=http://127.0.0.1:$P_LL2/metrics@$LL2_PID" \
    "postgres_exporter (started during)=http://127.0.0.1:$P_PG2/metrics@$PGX2_PID" >>"$RESULTS"
  up() { "$B/benchtool" counter "http://127.0.0.1:$1/metrics" "$2"; }
  info "up while exhausted" "loadlens_postgres_up: before $(up "$P_LL" loadlens_postgres_up), during $(up "$P_LL2" loadlens_postgres_up); pg_up: before $(up "$P_PG" pg_up), during $(up "$P_PG2" pg_up)"

  stop "$HOLD_PID"
  # Recovery of the exporters that started without a connection.
  since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f s", b - a }'; }
  t0=$(date +%s.%N) ll_rec="" pg_rec=""
  for ((i = 0; i < 60; i++)); do
    [ -z "$ll_rec" ] && [ "$(up "$P_LL2" loadlens_postgres_up)" = 1 ] && ll_rec=$(since "$t0")
    [ -z "$pg_rec" ] && [ "$(up "$P_PG2" pg_up)" = 1 ] && pg_rec=$(since "$t0")
    [ -n "$ll_rec" ] && [ -n "$pg_rec" ] && break
    sleep 0.5
  done
  info "up again after the slots are released (polled every 0.5 s)" "loadlens-exporter (started during): ${ll_rec:-not within 30 s}; postgres_exporter (started during): ${pg_rec:-not within 30 s}"
  for pid in "$PGX2_PID" "$LL2_PID" "$RD_PID" "$PGX_PID" "$LL_PID" "$PGBENCH_PID"; do stop "$pid"; done
fi

info "load at end" "$(cut -d' ' -f1-3 /proc/loadavg)"
stop "$STACK_PID"
"$B/benchtool" report "$RESULTS" >"$OUT/results.md"
if [ -f "$OUT/gobench.txt" ]; then
  printf '### go test -bench ./instrument/ (same run)\n\n```\n%s\n```\n' "$(grep -E '^(Benchmark|cpu:)' "$OUT/gobench.txt")" >>"$OUT/results.md"
fi
cat "$OUT/results.md"
log "results: $OUT/results.md (raw: $RESULTS, logs: $OUT/logs)"

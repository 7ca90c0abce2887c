#!/usr/bin/env bash
# Installs what loadlens needs and is missing; fast and silent when nothing is.
#   Debian packages: redis-server, prometheus, prometheus-alertmanager, wrk,
#                    postgresql-15 (server binaries, pg_stat_statements)
#   Go tools:        k6, built into .tools/k6/<version>/ and linked from .tools/bin/
set -euo pipefail
cd "$(dirname "$0")/.."

K6_VERSION=v1.8.1
PACKAGES=(redis-server prometheus prometheus-alertmanager wrk)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ -x /usr/lib/postgresql/15/bin/postgres ] || missing+=(postgresql-15)

if [ ${#missing[@]} -gt 0 ]; then
  cmd="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]}" >&2
    echo "setup: run as root:  $cmd" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]} (about 30 s) ..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian may start the packaged services on their default ports; loadlens
  # uses its own ports, so they never clash, and it never stops them.
fi

if ! command -v go >/dev/null 2>&1; then
  echo "setup: Go 1.26 is required (https://go.dev/dl/); it was not found on PATH" >&2
  exit 1
fi

k6dir=.tools/k6/$K6_VERSION
if [ ! -x "$k6dir/k6" ]; then
  echo "setup: building k6 $K6_VERSION into $k6dir (about 3 minutes, once) ..."
  mkdir -p "$k6dir"
  GOBIN="$PWD/$k6dir" GOFLAGS=-mod=mod go install "go.k6.io/k6@$K6_VERSION"
fi
mkdir -p .tools/bin
ln -sfn "../k6/$K6_VERSION/k6" .tools/bin/k6

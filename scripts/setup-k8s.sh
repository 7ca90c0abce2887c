#!/usr/bin/env bash
# Builds the Kubernetes control-plane binaries used by the e2e/k8s tests, from
# the Go module proxy, into .tools/k8s/<name>/<version>/<name>. Each binary is
# pinned by the go.mod of its tool module under tools/k8s/ and cached by
# version: a warm run prints nothing and does nothing.
#
#   etcd                      tools/k8s/etcd        (wrapper main around etcdmain)
#   kube-apiserver,
#   kube-controller-manager   tools/k8s/kubernetes  (k8s.io/kubernetes + staging replaces)
#   kwok                      tools/k8s/kwok
#   keda-operator,
#   keda-adapter              tools/k8s/keda        (KEDA operator and metrics server)
#
# A cold build of everything takes about 17 minutes on 2 cores (measured:
# etcd 60 s, kube-apiserver 233 s, kube-controller-manager 68 s, kwok 106 s,
# keda-operator 465 s, keda-adapter 74 s; module downloads not included) and
# several GB of Go build cache. `make test` calls this script, `make demo`
# never does.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dest=${LOADLENS_K8S_TOOLS:-$root/.tools/k8s}

if ! command -v go >/dev/null 2>&1; then
  echo "setup-k8s: Go 1.26 is required (https://go.dev/dl/); it was not found on PATH" >&2
  exit 1
fi

# version MODULE_DIR MODULE prints the version MODULE is pinned at.
version() {
  awk -v m="$2" '$1 == m || ($1 == "require" && $2 == m) { print $NF; exit }' "tools/k8s/$1/go.mod"
}

# build NAME VERSION MODULE_DIR PACKAGE ESTIMATE [LDFLAGS]
build() {
  local name=$1 ver=$2 dir=$3 pkg=$4 estimate=$5 ldflags=${6:-}
  local out=$dest/$name/$ver/$name
  [ -x "$out" ] && return 0
  [ -n "$ver" ] || { echo "setup-k8s: no version for $name in tools/k8s/$dir/go.mod" >&2; exit 1; }
  echo "setup-k8s: building $name $ver into ${out#"$root"/} (cold: about $estimate, once) ..."
  mkdir -p "$(dirname "$out")"
  local start=$SECONDS
  (cd "tools/k8s/$dir" && GOWORK=off GOFLAGS=-buildvcs=false CGO_ENABLED=0 \
    go build -trimpath -ldflags "-s -w $ldflags" -o "$out.tmp" "$pkg")
  mv "$out.tmp" "$out"
  echo "setup-k8s: built $name $ver in $((SECONDS - start)) s"
}

etcd=$(version etcd go.etcd.io/etcd/server/v3)
kube=$(version kubernetes k8s.io/kubernetes)
kwok=$(version kwok sigs.k8s.io/kwok)
keda=$(version keda github.com/kedacore/keda/v2)

kminor=${kube#v1.}
kminor=${kminor%%.*}
kver="-X k8s.io/component-base/version.gitVersion=$kube -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$kminor"
kedaver="-X github.com/kedacore/keda/v2/version.Version=$keda"

build etcd "$etcd" etcd . "1 min"
build kube-apiserver "$kube" kubernetes k8s.io/kubernetes/cmd/kube-apiserver "4 min" "$kver"
build kube-controller-manager "$kube" kubernetes k8s.io/kubernetes/cmd/kube-controller-manager "1 min" "$kver"
build kwok "$kwok" kwok sigs.k8s.io/kwok/cmd/kwok "2 min"
build keda-operator "$keda" keda github.com/kedacore/keda/v2/cmd/operator "8 min" "$kedaver"
build keda-adapter "$keda" keda github.com/kedacore/keda/v2/cmd/adapter "1.5 min" "$kedaver"

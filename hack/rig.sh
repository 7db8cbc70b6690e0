#!/usr/bin/env bash
# The local rig: a real kube-apiserver + etcd, Pebble (ACME CA) and BIND (authoritative DNS with
# TSIG dynamic updates), all on free loopback ports. Usage:
#   hack/rig.sh up                 start everything (idempotent), write $RIG_DIR/env and kubeconfig
#   hack/rig.sh down               stop everything this rig started and remove $RIG_DIR
#   hack/rig.sh status             exit 0 when every part answers
#   hack/rig.sh restart-apiserver  stop and start kube-apiserver only (etcd data kept)
# RIG_DIR defaults to <repo>/.rig. With RIG_EXTERNAL_KUBECONFIG=<path> the rig starts no apiserver
# or etcd and uses that cluster instead (a kind cluster, say); Pebble and BIND still run here. RIG_OWNER_PID, when set, makes a watchdog tear the rig down as
# soon as that process is gone (tests use it so that no process outlives a failed or interrupted run).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
. "$repo/hack/versions.sh"
RIG_DIR=${RIG_DIR:-$repo/.rig}
cache=${DNS01_CACHE:-$HOME/.cache/dns01-operator}
KUBECTL=${KUBECTL:-$cache/bin/kubectl-$KUBE_VERSION}
PEBBLE=${PEBBLE:-$cache/bin/pebble-$PEBBLE_VERSION}
ZONES="example.test second.test"

log() { printf '[rig] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

free_ports() { # free_ports N -> N ports free on 127.0.0.1 for both TCP and UDP
  python3 - "$1" <<'PY'
import socket, sys
n = int(sys.argv[1]); out = []; held = []
while len(out) < n:
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM); t.bind(("127.0.0.1", 0)); p = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try: u.bind(("127.0.0.1", p))
    except OSError: t.close(); continue
    held += [t, u]; out.append(p)
print(" ".join(map(str, out)))
PY
}

start() { # start NAME CMD... : detached from this shell's session, pid in $RIG_DIR/pids/NAME
  local name=$1; shift
  setsid "$@" >"$RIG_DIR/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$RIG_DIR/pids/$name"
}

alive() { [ -f "$RIG_DIR/pids/$1" ] && kill -0 "$(cat "$RIG_DIR/pids/$1")" 2>/dev/null; }

wait_for() { # wait_for WHAT SECONDS CMD...
  local what=$1 secs=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "$what did not come up in ${secs}s; see $RIG_DIR/logs"
    sleep 0.2
  done
}

stop_pid() { # stop_pid NAME: SIGTERM, then SIGKILL after 10 s
  local f="$RIG_DIR/pids/$1"
  [ -f "$f" ] || return 0
  local pid; pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

pki() {
  local d="$RIG_DIR/pki"; mkdir -p "$d"; cd "$d"
  ca() { # ca NAME CN
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.crt" \
      -days 3650 -subj "/CN=$2" -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  }
  leaf() { # leaf NAME CA SUBJ EXTS
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.csr" -subj "$3" 2>/dev/null
    printf '%s\n' "$4" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -days 825 -out "$1.crt" \
      -extfile "$1.ext" 2>/dev/null
  }
  ca kube-ca "dns01-operator rig kubernetes CA"
  leaf apiserver kube-ca "/CN=kube-apiserver" \
    "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc
extendedKeyUsage=serverAuth"
  leaf admin kube-ca "/O=system:masters/CN=admin" "extendedKeyUsage=clientAuth"
  # The aggregation layer: the apiserver proxies /apis/<group>/<version> of an APIService to its
  # extension apiserver with this client certificate, which the extension trusts through the
  # front-proxy CA (kube-system/extension-apiserver-authentication) and reads X-Remote-* from.
  # Aggregator routing stays at its default (service, not endpoint): with no kube-proxy, a test
  # APIService points at an ExternalName Service to localhost, which endpoint routing refuses
  # ("unsupported service type") and Endpoints could not name anyway (no loopback addresses).
  ca front-proxy-ca "dns01-operator rig front-proxy CA"
  leaf front-proxy-client front-proxy-ca "/CN=front-proxy-client" "extendedKeyUsage=clientAuth"
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  ca pebble-https-ca "dns01-operator rig Pebble HTTPS CA"
  leaf pebble pebble-https-ca "/CN=localhost" \
    "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth"
  cd "$repo"
}

tsig_secret() { head -c "$1" /dev/urandom | base64 -w0; }

rpz_zone() { # rpz_zone FILE: the rig's zones pass through; every other name, their parents too, is NXDOMAIN
  local z parent
  {
    printf '$TTL 60\n@ IN SOA localhost. hostmaster.localhost. ( 1 3600 600 86400 60 )\n@ IN NS localhost.\n'
    for z in $ZONES; do printf '%s CNAME rpz-passthru.\n*.%s CNAME rpz-passthru.\n' "$z" "$z"; done
    # A parent such as "test" exists below rpz.rig (as an empty name), so "*" covers neither it nor
    # its other children (unknown.test): they get rules of their own, which the zones' rules outrank.
    for z in $ZONES; do
      parent="$z"
      while [[ "$parent" == *.* ]]; do
        parent="${parent#*.}"
        [[ " $ZONES " == *" $parent "* ]] || printf '%s CNAME .\n*.%s CNAME .\n' "$parent" "$parent"
      done
    done | sort -u
    printf '* CNAME .\n'
  } > "$1"
}

bind_conf() { # bind_conf PORT
  local d="$RIG_DIR/bind"; mkdir -p "$d"
  {
    printf 'options {\n  directory "%s";\n  pid-file "%s/named.pid";\n' "$d" "$d"
    printf '  listen-on port %s { 127.0.0.1; };\n  listen-on-v6 { none; };\n' "$1"
    # Recursion, so that a CNAME into the other rig zone is followed in the answer, as a resolver
    # would (Pebble asks this server directly; without recursion BIND answers the CNAME alone). The
    # response policy keeps it hermetic: names outside the rig's zones are NXDOMAIN at once (the SOA
    # in the authority is rpz.rig's, which no zone walk mistakes for a parent), never looked up.
    printf '  recursion yes;\n  allow-recursion { 127.0.0.1; };\n'
    printf '  response-policy { zone "rpz.rig" log no; } recursive-only no qname-wait-recurse no;\n'
    printf '  dnssec-validation no;\n  notify no;\n  allow-query { any; };\n};\n'
    printf 'controls { };\n'
    # Root hints at an address nothing listens on: BIND's priming query never leaves the machine.
    printf '. 3600000 NS root.rig.invalid.\nroot.rig.invalid. 3600000 A 127.0.0.254\n' > "$d/root.hints"
    printf 'zone "." {\n  type hint;\n  file "%s/root.hints";\n};\n' "$d"
    rpz_zone "$d/rpz.rig.db"
    printf 'zone "rpz.rig" {\n  type primary;\n  file "%s/rpz.rig.db";\n  allow-query { none; };\n};\n' "$d"
    printf 'key "%s" { algorithm hmac-sha256; secret "%s"; };\n' "$TSIG_KEY_NAME" "$TSIG_SECRET"
    printf 'key "%s" { algorithm hmac-md5; secret "%s"; };\n' "rig-md5." "$TSIG_SECRET_HMACMD5"
    printf 'key "%s" { algorithm hmac-sha1; secret "%s"; };\n' "rig-sha1." "$TSIG_SECRET_HMACSHA1"
    printf 'key "%s" { algorithm hmac-sha512; secret "%s"; };\n' "rig-sha512." "$TSIG_SECRET_HMACSHA512"
    for z in $ZONES; do
      printf 'zone "%s" {\n  type primary;\n  file "%s/%s.db";\n' "$z" "$d" "$z"
      printf '  allow-update { key "%s"; key "rig-md5."; key "rig-sha1."; key "rig-sha512."; };\n};\n' "$TSIG_KEY_NAME"
      cat > "$d/$z.db" <<ZONE
\$TTL 60
@       IN SOA ns1.$z. hostmaster.$z. ( 1 3600 600 86400 60 )
@       IN NS  ns1.$z.
ns1     IN A   127.0.0.1
ZONE
    done
  } > "$d/named.conf"
}

write_kubeconfig() { # write_kubeconfig URL
  local d="$RIG_DIR/pki"
  cat > "$RIG_DIR/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: rig
  cluster:
    server: $1
    certificate-authority-data: $(base64 -w0 "$d/kube-ca.crt")
users:
- name: admin
  user:
    client-certificate-data: $(base64 -w0 "$d/admin.crt")
    client-key-data: $(base64 -w0 "$d/admin.key")
contexts:
- name: rig
  context: { cluster: rig, user: admin }
current-context: rig
KC
}

start_apiserver() {
  local d="$RIG_DIR/pki"
  start kube-apiserver "$cache/bin/kube-apiserver-$KUBE_VERSION" \
    --secure-port="$KUBE_PORT" --bind-address=127.0.0.1 --advertise-address=127.0.0.1 \
    --cert-dir="$RIG_DIR/apiserver" --tls-cert-file="$d/apiserver.crt" --tls-private-key-file="$d/apiserver.key" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" --service-cluster-ip-range=10.0.0.0/24 \
    --allow-privileged=true --authorization-mode=RBAC --disable-admission-plugins=ServiceAccount \
    --service-account-issuer="https://127.0.0.1:$KUBE_PORT/" --service-account-key-file="$d/sa.pub" \
    --service-account-signing-key-file="$d/sa.key" --client-ca-file="$d/kube-ca.crt" \
    --api-audiences="https://127.0.0.1:$KUBE_PORT/" --enable-priority-and-fairness=false \
    --requestheader-client-ca-file="$d/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="$d/front-proxy-client.crt" --proxy-client-key-file="$d/front-proxy-client.key"
  wait_for kube-apiserver 120 curl -fsS --cacert "$d/kube-ca.crt" --cert "$d/admin.crt" --key "$d/admin.key" \
    "https://127.0.0.1:$KUBE_PORT/readyz"
}

install_crds() {
  compgen -G "$repo/deploy/crds/*.yaml" >/dev/null || return 0
  KUBECONFIG="$RIG_DIR/kubeconfig" "$KUBECTL" apply --server-side --force-conflicts -f "$repo/deploy/crds/" >/dev/null
  KUBECONFIG="$RIG_DIR/kubeconfig" "$KUBECTL" wait --for condition=Established --timeout=60s \
    -f "$repo/deploy/crds/" >/dev/null
}

healthy() {
  [ -f "$RIG_DIR/env" ] || return 1
  local parts="pebble named"
  [ -n "${RIG_EXTERNAL_KUBECONFIG:-}" ] || parts="$parts etcd kube-apiserver"
  for p in $parts; do alive "$p" || return 1; done
  # shellcheck disable=SC1091
  (. "$RIG_DIR/env"; "$KUBECTL" --kubeconfig "$KUBECONFIG" get --raw /readyz >/dev/null)
}

up() {
  if healthy; then
    mkdir -p "$RIG_DIR/bin" && ln -sf "$KUBECTL" "$RIG_DIR/bin/kubectl"
    install_crds
    log "rig already up: source $RIG_DIR/env"
    return 0
  fi
  [ -d "$RIG_DIR" ] && down
  for b in named openssl curl python3; do command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] || die "$b is missing: run hack/install-deps.sh"; done
  [ -x "$cache/bin/kube-apiserver-$KUBE_VERSION" ] && [ -x "$cache/bin/etcd-$ETCD_VERSION" ] \
    && [ -x "$KUBECTL" ] || bash "$repo/hack/build-rig-binaries.sh" kube-apiserver etcd kubectl
  [ -x "$PEBBLE" ] || bash "$repo/hack/build-rig-binaries.sh" pebble
  mkdir -p "$RIG_DIR/pids" "$RIG_DIR/logs" "$RIG_DIR/etcd" "$RIG_DIR/apiserver"
  read -r ETCD_PORT ETCD_PEER_PORT KUBE_PORT DNS_PORT ACME_PORT MGMT_PORT VA_HTTP VA_TLS <<<"$(free_ports 8)"
  export ETCD_PORT KUBE_PORT
  pki

  if [ -z "${RIG_EXTERNAL_KUBECONFIG:-}" ]; then
  start etcd "$cache/bin/etcd-$ETCD_VERSION" --name rig --data-dir "$RIG_DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "rig=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync --log-level warn
  wait_for etcd 30 curl -fsS "http://127.0.0.1:$ETCD_PORT/health"
  fi

  TSIG_KEY_NAME="rig-key."; TSIG_SECRET=$(tsig_secret 32)
  TSIG_SECRET_HMACMD5=$(tsig_secret 16); TSIG_SECRET_HMACSHA1=$(tsig_secret 20); TSIG_SECRET_HMACSHA512=$(tsig_secret 64)
  bind_conf "$DNS_PORT"
  start named /usr/sbin/named -g -4 -n 1 -c "$RIG_DIR/bind/named.conf"
  wait_for named 30 dig +time=1 +tries=1 -p "$DNS_PORT" @127.0.0.1 SOA example.test +short

  cat > "$RIG_DIR/pebble.json" <<JSON
{ "pebble": {
  "listenAddress": "127.0.0.1:$ACME_PORT", "managementListenAddress": "127.0.0.1:$MGMT_PORT",
  "certificate": "$RIG_DIR/pki/pebble.crt", "privateKey": "$RIG_DIR/pki/pebble.key",
  "httpPort": $VA_HTTP, "tlsPort": $VA_TLS, "ocspResponderURL": "",
  "externalAccountBindingRequired": false,
  "externalAccountMACKeys": { "rig-eab": "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W" },
  "caaIdentities": ["pebble.letsencrypt.org"],
  "profiles": {
    "default": { "description": "90 days, no subject CN (as Let's Encrypt's tlsserver)", "validityPeriod": 7776000 },
    "classic": { "description": "90 days, the first name promoted to the CN", "validityPeriod": 7776000, "promoteCommonName": true },
    "short": { "description": "180 s, no subject CN: for renewal tests", "validityPeriod": 180 }
  }
} }
JSON
  # PEBBLE_WFE_NONCEREJECT is left at Pebble's default (5 %) unless the caller sets it (the chaos run).
  # Authorization reuse is off (Pebble reuses a valid one 50 % of the time by default): a test that
  # breaks DNS credentials before a renewal must see that renewal need DNS, every time.
  start pebble env PEBBLE_VA_NOSLEEP=1 PEBBLE_AUTHZREUSE="${PEBBLE_AUTHZREUSE:-0}" \
    ${PEBBLE_WFE_NONCEREJECT:+PEBBLE_WFE_NONCEREJECT=$PEBBLE_WFE_NONCEREJECT} "$PEBBLE" -config "$RIG_DIR/pebble.json" -dnsserver "127.0.0.1:$DNS_PORT"
  wait_for pebble 30 curl -fsS --cacert "$RIG_DIR/pki/pebble-https-ca.crt" "https://127.0.0.1:$ACME_PORT/dir"

  if [ -n "${RIG_EXTERNAL_KUBECONFIG:-}" ]; then
    cp "$RIG_EXTERNAL_KUBECONFIG" "$RIG_DIR/kubeconfig"
    KUBE_URL=$("$KUBECTL" --kubeconfig "$RIG_DIR/kubeconfig" config view --minify -o jsonpath='{.clusters[0].cluster.server}')
  else
    KUBE_URL="https://127.0.0.1:$KUBE_PORT"
    start_apiserver
    write_kubeconfig "https://127.0.0.1:$KUBE_PORT"
  fi
  mkdir -p "$RIG_DIR/bin" && ln -sf "$KUBECTL" "$RIG_DIR/bin/kubectl"

  cat > "$RIG_DIR/env" <<ENV
# Written by hack/rig.sh; source it to talk to the rig.
export RIG_DIR='$RIG_DIR'
export KUBECONFIG='$RIG_DIR/kubeconfig'
export KUBE_APISERVER_URL='$KUBE_URL'
export RIG_EXTERNAL='${RIG_EXTERNAL_KUBECONFIG:+1}'
export ETCD_URL='http://127.0.0.1:$ETCD_PORT'
export ACME_DIRECTORY_URL='https://127.0.0.1:$ACME_PORT/dir'
export ACME_CA_FILE='$RIG_DIR/pki/pebble-https-ca.crt'
export FRONT_PROXY_CA_FILE='$RIG_DIR/pki/front-proxy-ca.crt'
export PEBBLE_MANAGEMENT_URL='https://127.0.0.1:$MGMT_PORT'
export PEBBLE_EAB_KID='rig-eab'
export PEBBLE_EAB_HMAC_KEY='zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W'
export DNS_SERVER='127.0.0.1:$DNS_PORT'
export DNS_ZONES='$ZONES'
export TSIG_KEY_NAME='$TSIG_KEY_NAME'
export TSIG_ALGORITHM='HMACSHA256'
export TSIG_SECRET='$TSIG_SECRET'
export TSIG_SECRET_HMACMD5='$TSIG_SECRET_HMACMD5'
export TSIG_SECRET_HMACSHA1='$TSIG_SECRET_HMACSHA1'
export TSIG_SECRET_HMACSHA512='$TSIG_SECRET_HMACSHA512'
export PATH="$RIG_DIR/bin:\$PATH"
ENV
  install_crds
  if [ -n "${RIG_OWNER_PID:-}" ]; then
    # Tear down when the owner (a test run) is gone, however it ended.
    setsid bash -c 'while kill -0 "$0" 2>/dev/null && [ -d "$1" ]; do sleep 1; done; RIG_DIR="$1" "$2" down' \
      "$RIG_OWNER_PID" "$RIG_DIR" "$repo/hack/rig.sh" >/dev/null 2>&1 < /dev/null &
    echo $! > "$RIG_DIR/pids/watchdog"
  fi
  log "rig up: source $RIG_DIR/env  (kubectl, ACME at https://127.0.0.1:$ACME_PORT/dir, DNS 127.0.0.1:$DNS_PORT)"
}

down() {
  [ -d "$RIG_DIR" ] || return 0
  for p in pebble named kube-apiserver etcd; do stop_pid "$p"; done
  # The watchdog may be the one calling us; it exits on its own once $RIG_DIR is gone.
  rm -rf "$RIG_DIR"
  log "rig down"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) healthy ;;
  restart-apiserver)
    # shellcheck disable=SC1091
    . "$RIG_DIR/env"
    KUBE_PORT=${KUBE_APISERVER_URL##*:}; ETCD_PORT=${ETCD_URL##*:}
    stop_pid kube-apiserver; start_apiserver ;;
  stop-apiserver) stop_pid kube-apiserver ;;
  start-apiserver)
    # shellcheck disable=SC1091
    . "$RIG_DIR/env"
    KUBE_PORT=${KUBE_APISERVER_URL##*:}; ETCD_PORT=${ETCD_URL##*:}
    start_apiserver ;;
  *) echo "usage: $0 up|down|status|restart-apiserver|stop-apiserver|start-apiserver" >&2; exit 2 ;;
esac

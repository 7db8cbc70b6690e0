#!/usr/bin/env bash
# `make demo`: with the rig up, start the operator in the background, apply the examples (a
# ClusterIssuer for Pebble with an RFC 2136 solver on the rig's BIND, and an apex + wildcard
# Certificate), wait until the certificate is issued, and show it. Everything stays up until
# `make rig-down`. `hack/demo.sh stop-operator` stops only the operator.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
RIG_DIR=${RIG_DIR:-$repo/.rig}
NAMESPACE=${OPERATOR_NAMESPACE:-dns01-operator}
log() { printf '[demo] %s\n' "$*" >&2; }

stop_operator() {
  local f="$RIG_DIR/pids/operator"
  [ -f "$f" ] || return 0
  local pid; pid=$(cat "$f")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$f"
}

if [ "${1:-}" = stop-operator ]; then stop_operator; exit 0; fi

# shellcheck disable=SC1091
. "$RIG_DIR/env"
cd "$repo"

kubectl create namespace "$NAMESPACE" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl -n "$NAMESPACE" create secret generic rig-tsig --from-literal=tsig-secret="$TSIG_SECRET" \
  --dry-run=client -o yaml | kubectl apply -f - >/dev/null

log "building the operator"
npx tsc -p tsconfig.build.json
if [ -f "$RIG_DIR/pids/operator" ] && kill -0 "$(cat "$RIG_DIR/pids/operator")" 2>/dev/null; then
  log "restarting the operator"
  stop_operator
fi
setsid node dist/main.js \
  --kubeconfig "$KUBECONFIG" \
  --namespace "$NAMESPACE" \
  --cluster-resource-namespace "$NAMESPACE" \
  --dns01-recursive-nameservers "$DNS_SERVER" --dns01-recursive-nameservers-only \
  --metrics-addr "${METRICS_ADDR:-127.0.0.1:9402}" \
  >"$RIG_DIR/logs/operator.log" 2>&1 </dev/null &
echo $! > "$RIG_DIR/pids/operator"
log "operator running (pid $(cat "$RIG_DIR/pids/operator")), logs in $RIG_DIR/logs/operator.log"

export ACME_CA_BUNDLE_B64; ACME_CA_BUNDLE_B64=$(base64 -w0 "$ACME_CA_FILE")
envsubst < examples/cluster-issuer-pebble.yaml | kubectl apply -f -
cert=$(kubectl apply -f examples/certificate-wildcard.yaml -o name)
ns=$(kubectl get -f examples/certificate-wildcard.yaml -o jsonpath='{.metadata.namespace}')
ns=${ns:-default}
start=$EPOCHREALTIME
if ! kubectl -n "$ns" wait --for=condition=Ready "$cert" --timeout=180s >/dev/null; then
  log "the certificate did not become Ready; its status and the operator's last log lines:"
  kubectl -n "$ns" describe "$cert" || true
  tail -20 "$RIG_DIR/logs/operator.log" >&2 || true
  exit 1
fi
took=$(python3 -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 2))" "$start" "$EPOCHREALTIME")
secret=$(kubectl -n "$ns" get "$cert" -o jsonpath='{.spec.secretName}')

echo
kubectl -n "$ns" get "$cert"
echo
echo "Issued in ${took}s. The certificate in Secret $ns/$secret:"
kubectl -n "$ns" get secret "$secret" -o jsonpath='{.data.tls\.crt}' | base64 -d \
  | openssl x509 -noout -subject -ext subjectAltName -issuer -startdate -enddate
cat <<TXT

Look around with kubectl:
  source $RIG_DIR/env
  kubectl get certificates,orders,challenges -A
  kubectl -n $ns describe $cert
  kubectl -n $ns get secret $secret -o jsonpath='{.data.tls\\.crt}' | base64 -d | openssl x509 -noout -text
  tail -f $RIG_DIR/logs/operator.log
Its metrics (cert-manager's names): curl -s ${METRICS_ADDR:-127.0.0.1:9402}/metrics | grep certmanager_certificate
The stack stays up until: make rig-down
TXT

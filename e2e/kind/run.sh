#!/usr/bin/env bash
# Runs the integration and e2e suites against a kind cluster. Needs a Docker engine and `kind`
# on PATH, which our CI machines do not have: this script is NOT run in CI here (see README.md).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
name=${KIND_CLUSTER_NAME:-dns01-operator}
kubeconfig=$(mktemp)
trap 'kind delete cluster --name "$name" >/dev/null 2>&1 || true; rm -f "$kubeconfig"' EXIT

kind create cluster --name "$name" --kubeconfig "$kubeconfig" --wait 120s
# The operator runs as a local process next to Pebble and BIND (both on this machine's loopback),
# talking to the kind apiserver: the suites need nothing inside the cluster but the CRDs.
cd "$repo"
KUBECONFIG="$kubeconfig" USE_EXISTING_CLUSTER=true NODE_OPTIONS=--experimental-vm-modules \
  npx jest --selectProjects integration e2e --runInBand "$@"

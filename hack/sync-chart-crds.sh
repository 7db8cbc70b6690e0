#!/usr/bin/env bash
# Copies the generated CRDs (deploy/crds/, written by src/crds/generate.ts) into the Helm chart's
# files/crds/ folder, which templates/crds.yaml renders (as templates, so that `helm upgrade`
# updates them), and the alert rules (deploy/prometheus/dns01-operator-rules.yaml) into
# files/prometheus/, which templates/prometheusrule.yaml renders. Helm cannot reach files outside
# a chart, so the chart keeps copies; test/chart/chart.test.ts and test/monitoring/ fail while
# they differ. Each CRD copy starts with a `---` line (added when the source lacks it), so that
# the folder concatenated is a valid multi-document stream.
#   hack/sync-chart-crds.sh          copy, and remove chart CRDs that deploy/crds no longer has
#   hack/sync-chart-crds.sh --check  change nothing; exit 1 and name the files that differ
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
src="$repo/deploy/crds"
dst="$repo/charts/dns01-operator/files/crds"
rules_src="$repo/deploy/prometheus/dns01-operator-rules.yaml"
rules_dst="$repo/charts/dns01-operator/files/prometheus/dns01-operator-rules.yaml"

compgen -G "$src/*.yaml" >/dev/null || { echo "sync-chart-crds: no CRDs in $src: run make crds" >&2; exit 1; }

copy_of() { # copy_of FILE: what the chart's copy of FILE must hold
  [ "$(head -n 1 "$1")" = "---" ] || echo "---"
  cat "$1"
}

check=false
case "${1:-}" in
  --check) check=true ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

stale=0
for f in "$dst"/*.yaml; do
  [ -e "$f" ] || continue
  [ -e "$src/$(basename "$f")" ] && continue
  stale=1
  if $check; then echo "sync-chart-crds: ${f#"$repo"/} has no source in deploy/crds" >&2
  else rm -f "$f"; echo "removed ${f#"$repo"/}"; fi
done
$check || mkdir -p "$dst"
for f in "$src"/*.yaml; do
  out="$dst/$(basename "$f")"
  copy_of "$f" | cmp -s - "$out" && continue
  stale=1
  if $check; then echo "sync-chart-crds: ${out#"$repo"/} differs from ${f#"$repo"/}" >&2
  else copy_of "$f" > "$out"; echo "wrote ${out#"$repo"/}"; fi
done
if [ -e "$rules_src" ] && ! cmp -s "$rules_src" "$rules_dst"; then
  stale=1
  if $check; then echo "sync-chart-crds: ${rules_dst#"$repo"/} differs from ${rules_src#"$repo"/}" >&2
  else mkdir -p "$(dirname "$rules_dst")"; cp "$rules_src" "$rules_dst"; echo "wrote ${rules_dst#"$repo"/}"; fi
fi
if $check && [ $stale -eq 1 ]; then
  echo "sync-chart-crds: the chart's CRDs are stale: run hack/sync-chart-crds.sh" >&2
  exit 1
fi
exit 0

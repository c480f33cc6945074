#!/usr/bin/env bash
# Copies a run's shard folders off the results volume and merges them:
#
#   deploy/kubernetes/collect.sh RUN_ID [DEST]      # DEST defaults to results/RUN_ID
#
# Needs a local kprod (KPROD=path, else `kprod` on PATH). The merged run is DEST/merged: open its index.html.
set -euo pipefail
RUN_ID=${1:?usage: collect.sh RUN_ID [DEST]}
DEST=${2:-results/$RUN_ID}
KPROD=${KPROD:-kprod}
here="$(dirname "$0")"
kubectl apply -f "$here/results-reader.yaml"
kubectl wait --for=condition=Ready pod/kprod-results-reader --timeout=5m
mkdir -p "$DEST"
kubectl cp "kprod-results-reader:/results/$RUN_ID" "$DEST/shards"
kubectl delete pod kprod-results-reader --wait=false
"$KPROD" merge "$DEST"/shards/shard-*/*/ --out "$DEST/merged"

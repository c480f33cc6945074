#!/usr/bin/env bash
# Validates deploy/kubernetes/*.yaml against the Kubernetes JSON schemas, offline: kubernetes-validate (PyPI)
# ships the schemas of every Kubernetes release in the package. --strict refuses unknown fields (a misspelt
# `backoffLimit` would otherwise pass). What kprod itself relies on in these files (Indexed completion mode, the
# --shard/--start-at arguments, ConfigMap keys, mounts) is checked by tests/it/shards.rs, which also runs the
# Job's arguments locally.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=1.37.0
if ! command -v kubernetes-validate >/dev/null 2>&1; then
    echo "k8s-validate: installing kubernetes-validate==$VERSION with pip"
    python3 -m pip install --quiet --disable-pip-version-check "kubernetes-validate==$VERSION"
fi
kubernetes-validate --strict --kubernetes-version "$VERSION" deploy/kubernetes/*.yaml

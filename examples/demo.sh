#!/usr/bin/env bash
# The main job on bundled examples, on a fresh machine: no registry, no
# network. It builds sme2wasm, then
#   1. repacks the bundled ServiceMeshExtension image (an OCI image layout)
#      into a WasmPlugin image, writing the image map;
#   2. converts the bundled ServiceMeshExtension with that image map;
#   3. migrates a copy of a small GitOps repository in place and shows the
#      diff a reviewer would read.
# examples/gitops is a small kustomize repository (base and overlay).
# Everything is written under a temporary directory, which is removed.
set -euo pipefail
cd "$(dirname "$0")/.."
# SME2WASM names a binary already built (the test suite runs this script).
if [ -z "${SME2WASM:-}" ]; then
    cargo build --release --quiet
fi
sme2wasm=${SME2WASM:-$PWD/target/release/sme2wasm}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

step "1. repack the bundled SME image (examples/header-append-sme) into a WasmPlugin image"
echo "\$ sme2wasm repack oci:examples/header-append-sme:2.2 --to oci:\$work/wasm:2.2 --image-map images.yaml --source-name … --dest-name …" >&2
"$sme2wasm" repack oci:examples/header-append-sme:2.2 --to "oci:$work/wasm:2.2" \
    --image-map "$work/images.yaml" \
    --source-name quay.io/maistra-dev/header-append-filter:2.2 \
    --dest-name registry.example.com/wasm/header-append-filter:2.2
cat "$work/images.yaml"

step "2. convert the bundled ServiceMeshExtension with that image map"
echo "\$ sme2wasm convert --image-map images.yaml testdata/examples/header-append.yaml" >&2
"$sme2wasm" convert --image-map "$work/images.yaml" testdata/examples/header-append.yaml

step "3. migrate a copy of a GitOps repository in place (here: --diff, then for real)"
cp -r examples/gitops "$work/repo"
echo "\$ sme2wasm migrate repo --diff --image-map images.yaml -q" >&2
"$sme2wasm" migrate "$work/repo" --diff --image-map "$work/images.yaml" -q
echo "\$ sme2wasm migrate repo --image-map images.yaml -q && sme2wasm migrate repo --check" >&2
"$sme2wasm" migrate "$work/repo" --image-map "$work/images.yaml" -q
"$sme2wasm" migrate "$work/repo" --check

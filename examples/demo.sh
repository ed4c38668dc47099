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
# migrate writes only into a git work tree whose files to change are
# committed, so that `git diff` shows what it did and `git checkout` undoes
# it: the copy becomes a repository, as a real GitOps repository is.
allow=()
if command -v git >/dev/null 2>&1; then
    echo "\$ git init repo && git add -A && git commit -m 'before migrate'" >&2
    git -C "$work/repo" init -q
    git -C "$work/repo" add -A
    git -C "$work/repo" -c user.name=demo -c user.email=demo@example.com \
        -c commit.gpgsign=false commit -q -m 'before migrate'
else
    echo "(git is not installed: the copy cannot be a repository, so migrate runs with --allow-no-vcs)" >&2
    allow=(--allow-no-vcs)
fi
echo "\$ sme2wasm migrate repo --diff --image-map images.yaml -q" >&2
"$sme2wasm" migrate "$work/repo" --diff --image-map "$work/images.yaml" -q
echo "\$ sme2wasm migrate repo --image-map images.yaml -q && sme2wasm migrate repo --check" >&2
"$sme2wasm" migrate "$work/repo" "${allow[@]}" --image-map "$work/images.yaml" -q
"$sme2wasm" migrate "$work/repo" --check
if [ ${#allow[@]} = 0 ]; then
    echo "\$ git diff --stat    # what migrate did; \`git checkout -- .\` would undo it" >&2
    git -C "$work/repo" diff --stat
fi

#!/usr/bin/env bash
# Build the image (.ci/image.sh) and run the binary INSIDE it against
# examples/gitops, as a pipeline step would: `migrate --check` must exit 4
# (SMEs remain) and `migrate --diff` must print the same diff as the host's
# binary. A broken image (a missing library, a binary that does not start,
# a wrong user or entrypoint) fails here.
#
#   bash .ci/image-check.sh [--binary PATH]
#
# buildah's storage lives under target/image/buildah and is removed at the
# end; `buildah run --isolation chroot` needs no container runtime.
set -euo pipefail
cd "$(dirname "$0")/.."

store=$PWD/target/image/buildah
b=(buildah --root "$store/storage" --runroot "$store/run" --storage-driver vfs)
start=$(date +%s)
image=$(bash .ci/image.sh --root "$store" --tag localhost/sme2wasm:ci "$@")
binary=target/release/sme2wasm
for ((i = 1; i <= $#; i++)); do
    [ "${!i}" = --binary ] && { j=$((i + 1)); binary=${!j}; }
done
ctr=$("${b[@]}" from --quiet "$image")
cleanup() {
    "${b[@]}" rm "$ctr" >/dev/null 2>&1 || true
    "${b[@]}" rmi --all --force >/dev/null 2>&1 || true
    rm -rf "$store" 2>/dev/null || true
}
trap cleanup EXIT
fail() { echo "image-check: $*" >&2; exit 1; }

# The configuration a pipeline relies on.
config=$("${b[@]}" inspect --format '{{.OCIv1.Config.User}}|{{.OCIv1.Config.Entrypoint}}|{{index .OCIv1.Config.Labels "org.opencontainers.image.licenses"}}|{{index .OCIv1.Config.Labels "org.opencontainers.image.version"}}' "$image")
want="65532:65532|[/usr/local/bin/sme2wasm]|Apache-2.0|$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
[ "$config" = "$want" ] || fail "image config is $config, expected $want"

# The repository, where `-v "$PWD:/repo"` would put it, owned by the user.
mnt=$("${b[@]}" mount "$ctr")
cp -r examples/gitops/. "$mnt/repo/"
chown -R 65532:65532 "$mnt/repo"
run() { "${b[@]}" run --isolation chroot "$ctr" -- "$@"; }

uid=$(run busybox id -u)
[ "$uid" = 65532 ] || fail "the image runs as uid $uid, not 65532"

set +e
run sme2wasm migrate /repo --check 2>"$store/check.err"
code=$?
set -e
[ "$code" = 4 ] || { cat "$store/check.err" >&2; fail "migrate --check exited $code in the image, expected 4"; }
grep -q '^migrate --check: 2 ServiceMeshExtensions remain' "$store/check.err" ||
    { cat "$store/check.err" >&2; fail "migrate --check did not report the 2 SMEs"; }

run sme2wasm migrate /repo --diff >"$store/image.diff" 2>/dev/null
"$binary" migrate examples/gitops --diff >"$store/host.diff" 2>/dev/null
[ -s "$store/image.diff" ] || fail "migrate --diff printed nothing in the image"
cmp -s "$store/image.diff" "$store/host.diff" || {
    diff "$store/host.diff" "$store/image.diff" >&2 || true
    fail "migrate --diff in the image differs from the host's"
}
echo "image-check: $image: migrate --check exit 4, --diff as on the host, user 65532 ($(($(date +%s) - start)) s)" >&2

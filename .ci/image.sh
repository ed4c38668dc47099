#!/usr/bin/env bash
# Build the sme2wasm image from ./Containerfile with buildah, offline: the
# context is assembled here from the host's cargo build (the binary, the
# shared libraries `ldd` names, CA certificates, a static busybox, users),
# so that no base image has to be pulled from a registry.
#
#   bash .ci/image.sh [--binary PATH] [--tag NAME] [--root DIR]
#
# --binary: a binary already built (default: cargo build --release --locked
#           and target/release/sme2wasm)
# --tag:    the image name (default localhost/sme2wasm:VERSION)
# --root:   buildah's storage directory (default: buildah's own); CI passes
#           one under target/ so that nothing outside the work tree changes
# Needs: buildah (Debian: apt-get install buildah), busybox-static, ldd.
# Prints the image name on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

binary= tag= root=()
while (($#)); do
    case $1 in
    --binary) binary=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --root) root=(--root "$2/storage" --runroot "$2/run"); shift 2 ;;
    *) echo "image.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
tag=${tag:-localhost/sme2wasm:$version}
if [ -z "$binary" ]; then
    cargo build --release --locked --quiet >&2
    binary=target/release/sme2wasm
fi
busybox=$(command -v busybox || true)
if [ -z "$busybox" ] || ldd "$busybox" >/dev/null 2>&1; then
    echo "image.sh: a static busybox is needed (apt-get install busybox-static)" >&2
    exit 1
fi

ctx=target/image/context
rm -rf "$ctx"
rootfs=$ctx/rootfs
mkdir -p "$rootfs"/{usr/local/bin,bin,etc/ssl/certs,tmp,repo,home/sme2wasm}
# The binary, without its debug sections (line tables stay in the build).
objcopy --strip-debug "$binary" "$rootfs/usr/local/bin/sme2wasm"
# The shared libraries it links, at the paths the loader looks for them.
ldd "$binary" | awk '/=> \// {print $3} /^\t\/[^ ]+ \(/ {print $1}' | while read -r lib; do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
done
# A shell and the few tools CI runners expect in a job container (sh, tail).
cp "$busybox" "$rootfs/bin/busybox"
for tool in sh tail cat ls env mkdir rm cp mv grep sed tee; do
    ln -s busybox "$rootfs/bin/$tool"
done
# repack and migrate --repack verify registries' certificates.
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"
else
    echo "image.sh: no /etc/ssl/certs/ca-certificates.crt (apt-get install ca-certificates): the image will know no CA" >&2
fi
printf 'root:x:0:0:root:/root:/bin/sh\nsme2wasm:x:65532:65532:sme2wasm:/home/sme2wasm:/bin/sh\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nsme2wasm:x:65532:\n' >"$rootfs/etc/group"
chmod 1777 "$rootfs/tmp"

revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
source=${SME2WASM_SOURCE:-$(git remote get-url origin 2>/dev/null || echo unknown)}
buildah "${root[@]}" --storage-driver vfs bud --isolation chroot --quiet \
    --build-arg "VERSION=$version" --build-arg "REVISION=$revision" --build-arg "SOURCE=$source" \
    --layers=false -f Containerfile -t "$tag" "$ctx" >&2
echo "$tag"

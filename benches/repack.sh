#!/usr/bin/env bash
# Benchmark of `sme2wasm repack` against a real registry (CNCF distribution,
# Debian's docker-registry) on loopback, side by side with `skopeo copy`.
#
#  1. "top": a FILLER_MIB (default 200) MiB random base layer under a small top
#     layer that holds manifest.yaml and the module. Expected: the base layer
#     is never downloaded (checked in the source registry's access log), peak
#     RSS under 64 MiB.
#  2. "base": the module and manifest.yaml sit in the FILLER_MIB base layer.
#     Expected: wall time at most that of `skopeo copy` of the same image.
#     Each run pushes to a fresh destination registry, so neither tool can
#     reuse or mount blobs it pushed before.
#
# Usage: benches/repack.sh            (RUNS=3 FILLER_MIB=200 by default)
# Needs: docker-registry, skopeo, jq, GNU tar, gzip, /usr/bin/time, python3.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-3}
FILLER_MIB=${FILLER_MIB:-200}
REGISTRY_BIN=/usr/bin/docker-registry
for tool in "$REGISTRY_BIN" skopeo jq tar gzip /usr/bin/time python3; do
  command -v "$tool" >/dev/null || { echo "benchmark needs $tool (apt-get install docker-registry skopeo jq time)" >&2; exit 2; }
done

echo "building sme2wasm (release)..." >&2
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml"
BIN=$ROOT/target/release/sme2wasm

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_registry NAME: starts a registry, sets REG_HOST and REG_LOG.
start_registry() {
  local name=$1 dir=$WORK/reg-$1 port
  mkdir -p "$dir"
  port=$(free_port)
  cat >"$dir/config.yml" <<CFG
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $dir/storage
http:
  addr: 127.0.0.1:$port
CFG
  "$REGISTRY_BIN" serve "$dir/config.yml" >"$dir/log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 200); do
    if python3 - "$port" <<'PY' 2>/dev/null; then break; fi
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/v2/", timeout=1)
PY
    sleep 0.05
  done
  REG_HOST=127.0.0.1:$port
  REG_LOG=$dir/log
}

# A minimal proxy-wasm module: exports proxy_abi_version_0_2_1.
write_module() {
  printf '\x00asm\x01\x00\x00\x00'
  printf '\x01\x04\x01\x60\x00\x00'
  printf '\x03\x02\x01\x00'
  printf '\x07\x1b\x01\x17proxy_abi_version_0_2_1\x00\x00'
  printf '\x0a\x04\x01\x02\x00\x0b'
}

LAYOUT=$WORK/layout
mkdir -p "$LAYOUT/blobs/sha256"
echo '{"imageLayoutVersion":"1.0.0"}' >"$LAYOUT/oci-layout"
echo '{"schemaVersion":2,"manifests":[]}' >"$LAYOUT/index.json"

# add_blob FILE MEDIATYPE: store a blob, print its descriptor.
add_blob() {
  local sum size
  sum=$(sha256sum "$1" | cut -d' ' -f1)
  size=$(stat -c %s "$1")
  cp "$1" "$LAYOUT/blobs/sha256/$sum"
  jq -cn --arg mt "$2" --arg d "sha256:$sum" --argjson s "$size" '{mediaType:$mt,digest:$d,size:$s}'
}

# layer DIR: a reproducible gzip layer; prints "descriptor diff_id".
layer() {
  local tarf=$WORK/$(basename "$1").tar
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$1" -cf "$tarf" .
  local diff
  diff=sha256:$(sha256sum "$tarf" | cut -d' ' -f1)
  gzip -1 -n -c "$tarf" >"$tarf.gz"
  echo "$(add_blob "$tarf.gz" application/vnd.oci.image.layer.v1.tar+gzip) $diff"
  rm -f "$tarf" "$tarf.gz"
}

# image TAG LAYERDIR...: an OCI image in the layout under TAG.
image() {
  local tag=$1; shift
  local descs=() diffs=() d
  for dir in "$@"; do
    read -r d diff < <(layer "$dir")
    descs+=("$d"); diffs+=("\"$diff\"")
  done
  local cfg=$WORK/config-$tag.json
  printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[%s]}}' "$(IFS=,; echo "${diffs[*]}")" >"$cfg"
  local cdesc man=$WORK/manifest-$tag.json
  cdesc=$(add_blob "$cfg" application/vnd.oci.image.config.v1+json)
  jq -cn --argjson c "$cdesc" --argjson l "[$(IFS=,; echo "${descs[*]}")]" \
    '{schemaVersion:2,mediaType:"application/vnd.oci.image.manifest.v1+json",config:$c,layers:$l}' >"$man"
  local mdesc
  mdesc=$(add_blob "$man" application/vnd.oci.image.manifest.v1+json)
  jq --argjson m "$mdesc" --arg t "$tag" \
    '.manifests += [$m + {annotations: {"org.opencontainers.image.ref.name": $t}}]' \
    "$LAYOUT/index.json" >"$LAYOUT/index.new" && mv "$LAYOUT/index.new" "$LAYOUT/index.json"
}

manifest_yaml() { printf 'schemaVersion: 1\nname: bench\nphase: PreAuthZ\npriority: 10\nmodule: %s\n' "$1"; }

echo "building test images (${FILLER_MIB} MiB random filler)..." >&2
mkdir -p "$WORK/filler/var" "$WORK/top/plugin" "$WORK/base/var" "$WORK/base/ext" "$WORK/small/etc"
head -c "$((FILLER_MIB * 1024 * 1024))" /dev/urandom >"$WORK/filler/var/filler.bin"
write_module >"$WORK/top/plugin/filter.wasm"
manifest_yaml plugin/filter.wasm >"$WORK/top/manifest.yaml"
image top "$WORK/filler" "$WORK/top"
FILLER_DIGEST=$(jq -r '.layers[0].digest' "$WORK/manifest-top.json")
mv "$WORK/filler/var/filler.bin" "$WORK/base/var/filler.bin"
write_module >"$WORK/base/ext/filter.wasm"
manifest_yaml ext/filter.wasm >"$WORK/base/manifest.yaml"
echo bench >"$WORK/small/etc/motd"
image base "$WORK/base" "$WORK/small"
rm -rf "$WORK/base" "$WORK/filler"

start_registry src
SRC=$REG_HOST SRC_LOG=$REG_LOG
for t in top base; do
  skopeo copy --quiet --dest-tls-verify=false "oci:$LAYOUT:$t" "docker://$SRC/bench/$t:1"
done

# timed OUT CMD...: run CMD, append "wall_seconds max_rss_kib" to OUT.
timed() {
  local out=$1; shift
  /usr/bin/time -f '%e %M' -o "$WORK/time" "$@" >"$WORK/stdout" 2>"$WORK/stderr" || {
    cat "$WORK/stderr" >&2; exit 1; }
  cat "$WORK/time" >>"$out"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "== 1. module in a small top layer over a ${FILLER_MIB} MiB base layer"
start_registry dst-top
CMD1=("$BIN" repack "$SRC/bench/top:1" --to "$REG_HOST/wasm/top:1" --plain-http "$SRC" --plain-http "$REG_HOST" -o json)
timed "$WORK/top.times" "${CMD1[@]}"
read -r wall rss <"$WORK/top.times"
layers_read=$(jq '.[0].layers_read' "$WORK/stdout")
TOP_DIGEST=$(jq -r '.layers[1].digest' "$WORK/manifest-top.json")
# Control: the access log does record blob downloads (the top layer's).
grep -q "GET /v2/bench/top/blobs/$TOP_DIGEST" "$SRC_LOG" || { echo "access log has no blob GETs; cannot check" >&2; exit 1; }
if grep -q "GET /v2/bench/top/blobs/$FILLER_DIGEST" "$SRC_LOG"; then filler=yes; else filler=no; fi
echo "command:          sme2wasm repack $SRC/bench/top:1 --to DST/wasm/top:1 --plain-http ... -o json"
echo "wall time:        ${wall} s"
echo "peak RSS:         $((rss / 1024)) MiB (${rss} KiB; limit 64 MiB)"
echo "layers read:      ${layers_read} of 2"
echo "filler layer downloaded (source registry access log): ${filler}"

echo "== 2. module in the ${FILLER_MIB} MiB base layer: sme2wasm repack vs skopeo copy, ${RUNS} runs each, fresh destination registry per run"
for i in $(seq 1 "$RUNS"); do
  start_registry "dst-s-$i"
  timed "$WORK/s.times" "$BIN" repack "$SRC/bench/base:1" --to "$REG_HOST/wasm/base:1" --plain-http "$SRC" --plain-http "$REG_HOST" -o json
  base_read=$(jq '.[0].layers_read' "$WORK/stdout")
  start_registry "dst-k-$i"
  timed "$WORK/k.times" skopeo copy --quiet --src-tls-verify=false --dest-tls-verify=false \
    "docker://$SRC/bench/base:1" "docker://$REG_HOST/copy/base:1"
done
s_wall=$(cut -d' ' -f1 "$WORK/s.times" | median); k_wall=$(cut -d' ' -f1 "$WORK/k.times" | median)
s_rss=$(cut -d' ' -f2 "$WORK/s.times" | sort -n | tail -1); k_rss=$(cut -d' ' -f2 "$WORK/k.times" | sort -n | tail -1)
echo "command:          sme2wasm repack $SRC/bench/base:1 --to DST/wasm/base:1 --plain-http ... -o json   (layers read: ${base_read} of 2)"
echo "command:          skopeo copy --src-tls-verify=false --dest-tls-verify=false docker://$SRC/bench/base:1 docker://DST/copy/base:1"
echo "sme2wasm repack:  wall $(tr '\n' ' ' <<<"$(cut -d' ' -f1 "$WORK/s.times")")s  median ${s_wall} s  peak RSS $((s_rss / 1024)) MiB"
echo "skopeo copy:      wall $(tr '\n' ' ' <<<"$(cut -d' ' -f1 "$WORK/k.times")")s  median ${k_wall} s  peak RSS $((k_rss / 1024)) MiB"
awk -v s="$s_wall" -v k="$k_wall" 'BEGIN { printf "ratio repack/skopeo: %.2f (%s)\n", s / k, (s <= k ? "repack is not slower" : "repack is SLOWER") }'

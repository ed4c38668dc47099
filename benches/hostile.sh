#!/usr/bin/env bash
# Hostile input, measured: no registry needed (OCI layouts on disk).
#
#  1. Peak memory (and the most bytes spooled to temporary files at once) of
#     `repack` on tar metadata bombs, next to the same run on a plain image:
#       plain      manifest.yaml and a module
#       longname   a GNU long-name entry claiming 1 GiB (the data is there)
#       pax        a PAX header of 1 GiB
#       sparse     a GNU sparse entry with 256 MiB of extension headers
#       spool      eight 256 MiB *.wasm candidates above manifest.yaml
#     Expected: every bomb is refused (or, for the spool, repacked) within
#     the plain run's memory plus a few MiB; the spool never holds more than
#     one module's worth (256 MiB).
#  2. Time to refuse nesting 10k, 100k and 1M levels deep in `convert` (YAML
#     and JSON; `migrate` and repack's manifest.yaml go through the same
#     check): it grows linearly with the input (before, each doubling cost
#     about 7x: 64,000 levels took 6 s).
#
# Usage: benches/hostile.sh      Needs: python3, /usr/bin/time, jq.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
for tool in python3 /usr/bin/time jq; do
  command -v "$tool" >/dev/null || { echo "benchmark needs $tool" >&2; exit 2; }
done
echo "building sme2wasm (release)..." >&2
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml"
BIN=$ROOT/target/release/sme2wasm
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

echo "building hostile layers..." >&2
python3 - "$WORK" <<'PY'
import gzip, hashlib, json, os, sys, zlib
work = sys.argv[1]
MiB = 1 << 20

def octal(n, width):
    return ("%0*o" % (width - 1, n)).encode() + b"\0"

def header(name, flag, size, extended=False, realsize=0):
    h = bytearray(512)
    h[0:len(name)] = name.encode()
    h[100:108] = octal(0o644, 8); h[108:116] = octal(0, 8); h[116:124] = octal(0, 8)
    h[124:136] = octal(size, 12); h[136:148] = octal(0, 12)
    h[156] = ord(flag)
    if flag == "S":
        h[257:265] = b"ustar  \0"
        h[482] = 1 if extended else 0
        h[483:495] = octal(realsize, 12)
    else:
        h[257:263] = b"ustar\0"; h[263:265] = b"00"
    h[148:156] = b" " * 8
    h[148:156] = ("%06o\0 " % sum(h)).encode()
    return bytes(h)

def pad(n):
    return b"\0" * ((512 - n % 512) % 512)

module = (b"\0asm\x01\0\0\0" b"\x01\x04\x01\x60\x00\x00" b"\x03\x02\x01\x00"
          b"\x07\x1b\x01\x17proxy_abi_version_0_2_1\x00\x00" b"\x0a\x04\x01\x02\x00\x0b")
manifest = b"schemaVersion: 1\nname: bench\nphase: PreAuthZ\npriority: 1\nmodule: m/filter.wasm\n"

def entry(name, data):
    return header(name, "0", len(data)) + data + pad(len(data))

good = entry("manifest.yaml", manifest) + entry("m/filter.wasm", module)

class Layer:
    """A gzip layer written as it streams, its digest and size counted."""
    def __init__(self, name):
        self.path = os.path.join(work, name + ".gz")
        self.f = open(self.path, "wb")
        self.z = zlib.compressobj(6, zlib.DEFLATED, 31)
    def write(self, b):
        self.f.write(self.z.compress(b))
    def repeat(self, chunk, total):
        while total > 0:
            n = min(total, len(chunk)); self.write(chunk[:n]); total -= n
    def close(self):
        self.f.write(self.z.flush()); self.f.close()

zeros = b"\0" * (4 * MiB)
letters = b"a" * (4 * MiB)
cases = {}

l = Layer("plain"); l.write(good + b"\0" * 1024); l.close(); cases["plain"] = l.path

l = Layer("longname"); l.write(header("././@LongLink", "L", 1024 * MiB)); l.repeat(letters, 1024 * MiB)
l.write(good + b"\0" * 1024); l.close(); cases["longname"] = l.path

l = Layer("pax"); l.write(header("pax", "x", 1024 * MiB))
rec = b"30 comment=aaaaaaaaaaaaaaaaaa\n"; l.repeat(rec * (4 * MiB // len(rec)), 1024 * MiB)
l.write(good + b"\0" * 1024); l.close(); cases["pax"] = l.path

l = Layer("sparse"); l.write(header("sparse.bin", "S", 0, extended=True, realsize=1))
ext = bytearray(512); ext[504] = 1; ext = bytes(ext)
l.repeat(ext * 8192, 256 * MiB); l.write(b"\0" * 512)
l.write(good + b"\0" * 1024); l.close(); cases["sparse"] = l.path

l = Layer("spool")
for i in range(8):
    l.write(header("c%d.wasm" % i, "0", 256 * MiB)); l.repeat(zeros, 256 * MiB)
l.write(good + b"\0" * 1024); l.close(); cases["spool"] = l.path

for name, path in cases.items():
    d = os.path.join(work, "src-" + name)
    os.makedirs(os.path.join(d, "blobs", "sha256"))
    def put(data=None, path=None):
        if path:
            h = hashlib.sha256(); size = 0
            with open(path, "rb") as f:
                for b in iter(lambda: f.read(MiB), b""):
                    h.update(b); size += len(b)
            os.rename(path, os.path.join(d, "blobs", "sha256", h.hexdigest()))
        else:
            h = hashlib.sha256(data); size = len(data)
            open(os.path.join(d, "blobs", "sha256", h.hexdigest()), "wb").write(data)
        return {"digest": "sha256:" + h.hexdigest(), "size": size}
    cfg = put(json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode())
    cfg["mediaType"] = "application/vnd.oci.image.config.v1+json"
    layer = put(path=path); layer["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
    man = put(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                          "config": cfg, "layers": [layer]}).encode())
    man["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
    man["annotations"] = {"org.opencontainers.image.ref.name": "1"}
    json.dump({"schemaVersion": 2, "manifests": [man]}, open(os.path.join(d, "index.json"), "w"))
    open(os.path.join(d, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
    print("%-9s layer %7.1f MiB compressed" % (name, layer["size"] / MiB), file=sys.stderr)
PY

# spool_watch PID OUT: the most bytes held at once in deleted (anonymous) files.
spool_watch() {
  local pid=$1 out=$2 max=0 cur
  while kill -0 "$pid" 2>/dev/null; do
    cur=$(for f in /proc/"$pid"/fd/*; do
            case $(readlink "$f" 2>/dev/null) in *"(deleted)") stat -L -c %s "$f" 2>/dev/null;; esac
          done | awk '{s+=$1} END {print s+0}')
    if [ "$cur" -gt "$max" ]; then max=$cur; fi
    sleep 0.05
  done
  echo "$max" >"$out"
}

echo "== 1. peak memory of repack on metadata bombs and the spool case, next to a plain image"
printf '%-9s %-8s %9s %12s %10s  %s\n' case exit wall_s peak_rss_MiB spool_MiB "first line of stderr"
for name in plain longname pax sparse spool; do
  rm -rf "$WORK/out"
  /usr/bin/time -f '%e %M' -o "$WORK/time" "$BIN" repack "oci:$WORK/src-$name:1" --to "oci:$WORK/out:1" \
    >"$WORK/stdout" 2>"$WORK/stderr" &
  tpid=$!
  rpid=
  for _ in $(seq 1 200); do
    rpid=$(pgrep -P "$tpid" -n || true)
    [ -n "$rpid" ] && break
    sleep 0.01
  done
  rpid=${rpid:-$tpid}
  spool_watch "$rpid" "$WORK/spool" &
  wpid=$!
  code=0; wait "$tpid" || code=$?
  wait "$wpid" || true
  read -r wall rss < <(tail -1 "$WORK/time")
  spool=$(awk '{printf "%.1f", $1 / 1048576}' "$WORK/spool")
  printf '%-9s %-8s %9s %12s %10s  %s\n' "$name" "$code" "$wall" "$((rss / 1024))" "$spool" "$(head -1 "$WORK/stderr" | sed -e 's/^[A-Z]* oci:[^ ]*: //' -e 's/layer sha256:[0-9a-f]*: the layer is not a readable tar archive: //' | cut -c1-110)"
done

echo "== 2. time to refuse deep nesting (convert; YAML and JSON)"
printf '%-10s %-6s %10s %12s %12s\n' depth input median_ms peak_rss_MiB input_bytes
for depth in 10000 100000 1000000; do
  python3 -c "import sys; sys.stdout.write('apiVersion: maistra.io/v1\nkind: ServiceMeshExtension\nmetadata: {name: a}\nspec:\n  x: ' + '[' * $depth + '\n')" >"$WORK/deep.yaml"
  python3 -c "import sys; sys.stdout.write('{\"apiVersion\": \"maistra.io/v1\", \"kind\": \"ServiceMeshExtension\", \"spec\": {\"x\": ' + '[' * $depth + '}}\n')" >"$WORK/deep.json"
  for input in yaml json; do
    /usr/bin/time -f '%e %M' -o "$WORK/time" "$BIN" convert "$WORK/deep.$input" >/dev/null 2>"$WORK/stderr" || true
    grep -q "levels deep" "$WORK/stderr" || { echo "not refused as too deep: $(cat "$WORK/stderr")" >&2; exit 1; }
    read -r wall rss < <(tail -1 "$WORK/time")
    # Median of 5 runs, in milliseconds (/usr/bin/time counts hundredths).
    ms=$(python3 - "$BIN" "$WORK/deep.$input" <<'PY'
import subprocess, sys, time
t = []
for _ in range(5):
    s = time.perf_counter()
    subprocess.run([sys.argv[1], "convert", sys.argv[2]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t.append((time.perf_counter() - s) * 1000)
print("%.1f" % sorted(t)[2])
PY
)
    printf '%-10s %-6s %10s %12s %12s\n' "$depth" "$input" "$ms" "$((rss / 1024))" "$(stat -c %s "$WORK/deep.$input")"
  done
done

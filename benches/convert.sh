#!/bin/sh
# The convert benchmark, whole: build release, write the two generated
# streams (100,000 documents each: all SMEs, and one SME in ten), measure
# the peak RSS of `sme2wasm convert` on each against 3x the input size,
# then run the timing benchmark (convert against a bare serde_yaml
# parse-and-emit of the same stream, side by side).
#
#   benches/convert.sh [DIR]     # DIR for the streams (default: a temp dir)
#
# Exit status: non-zero when a target is missed.
set -eu

cd "$(dirname "$0")/.."
dir=${1:-$(mktemp -d)}
mkdir -p "$dir"

if [ ! -x /usr/bin/time ]; then
    echo "installing GNU time for the RSS measurement" >&2
    apt-get install -y time >/dev/null
fi

cargo build --release --quiet
cargo bench --bench convert --quiet -- --write "$dir" >/dev/null

status=0
echo "peak RSS of target/release/sme2wasm convert FILE > /dev/null 2>/dev/null"
printf '%-12s %14s %14s %14s %7s  %s\n' file "input bytes" "max RSS bytes" "3x input" ratio result
for f in sme.yaml mixed.yaml; do
    size=$(wc -c <"$dir/$f")
    log="$dir/$f.time"
    /usr/bin/time -v -o "$log" target/release/sme2wasm convert "$dir/$f" >/dev/null 2>/dev/null || true
    kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$log")
    rss=$((kb * 1024))
    limit=$((size * 3))
    ratio=$(awk "BEGIN { printf \"%.2fx\", $rss / $size }")
    if [ "$rss" -le "$limit" ]; then result=PASS; else result=FAIL; status=1; fi
    printf '%-12s %14d %14d %14d %7s  %s\n' "$f" "$size" "$rss" "$limit" "$ratio" "$result"
done
echo

cargo bench --bench convert || status=1
exit $status

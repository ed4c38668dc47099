#!/bin/sh
# The convert benchmark, whole: build release, write the three generated
# streams (sme.yaml: 100,000 SMEs; mixed.yaml: 100,000 documents, one SME
# in ten; export.yaml: 10,000 SMEs shaped as users feed convert, exports
# with managedFields and status, flow style, hand-written), measure the
# peak RSS of `sme2wasm convert` and of the bare serde_yaml parse-and-emit
# (the bench binary's --bare mode) on each, then run the timing benchmark
# (convert against the bare parse-and-emit of the same stream, side by side).
#
#   benches/convert.sh [DIR]     # DIR for the streams (default: a temp dir)
#
# Memory limits, convert's peak RSS: at most 2x the input for export.yaml,
# 3x for the others. Exit status: non-zero when a target is missed.
set -eu

cd "$(dirname "$0")/.."
dir=${1:-$(mktemp -d)}
mkdir -p "$dir"

if [ ! -x /usr/bin/time ]; then
    echo "installing GNU time for the RSS measurement" >&2
    apt-get install -y time >/dev/null
fi

cargo build --release --quiet
# The bench executable itself, so that /usr/bin/time measures it, not cargo.
bench=$(cargo bench --bench convert --no-run --message-format=json 2>/dev/null |
    grep '"kind":\["bench"\],[^}]*"name":"convert"' |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
if [ -z "$bench" ] || [ ! -x "$bench" ]; then
    echo "cannot find the convert bench executable" >&2
    exit 1
fi
"$bench" --write "$dir" >/dev/null

# peak RSS in bytes of the command given
peak_rss() {
    log="$dir/rss.time"
    /usr/bin/time -v -o "$log" "$@" >/dev/null 2>/dev/null || true
    kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$log")
    echo $((kb * 1024))
}

status=0
echo "peak RSS: bare = $bench --bare FILE; convert = target/release/sme2wasm convert FILE > /dev/null"
printf '%-12s %12s %12s %12s %7s %6s  %s\n' file "input bytes" "bare RSS" "convert RSS" ratio limit result
for f in sme.yaml mixed.yaml export.yaml; do
    case $f in
    export.yaml) times=2 ;;
    *) times=3 ;;
    esac
    size=$(wc -c <"$dir/$f")
    bare=$(peak_rss "$bench" --bare "$dir/$f")
    rss=$(peak_rss target/release/sme2wasm convert "$dir/$f")
    ratio=$(awk "BEGIN { printf \"%.2fx\", $rss / $size }")
    if [ "$rss" -le $((size * times)) ]; then result=PASS; else result=FAIL; status=1; fi
    printf '%-12s %12d %12d %12d %7s %6s  %s\n' "$f" "$size" "$bare" "$rss" "$ratio" "<=${times}x" "$result"
done
echo

"$bench" || status=1
exit $status

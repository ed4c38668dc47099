#!/usr/bin/env bash
# Benchmark of `sme2wasm migrate` (not a timed test): a generated GitOps
# repository of 10,000 YAML files, 1,000 of which hold ServiceMeshExtensions
# (mixed with Deployments, Services and kustomizations). Measures wall time
# and peak RSS of `migrate --check` and of the rewrite, each on a fresh copy.
#
#   benches/migrate.sh [WORKDIR]      (default: a temporary directory)
#
# Targets on a 2-core machine: --check under 1 s, the rewrite under 2 s,
# peak RSS under 100 MiB.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d)}
repo=$work/repo

if [ ! -x /usr/bin/time ]; then
    echo "needs GNU time (/usr/bin/time): apt-get install time" >&2
    exit 2
fi

echo "building release…" >&2
cargo build --release --quiet --manifest-path "$here/Cargo.toml"
bin=$here/target/release/sme2wasm

echo "generating $repo…" >&2
rm -rf "$repo"
mkdir -p "$repo"
# 100 applications × 100 files: in each, 10 files with an SME (one in two
# with a Deployment in the same file), 1 kustomization, 45 Deployments and
# 44 Services.
awk -v root="$repo" 'BEGIN {
    phases[0] = "PreAuthN"; phases[1] = "PostAuthN"; phases[2] = "PreAuthZ"
    phases[3] = "PostAuthZ"; phases[4] = "PreStats"; phases[5] = "PostStats"
    for (a = 0; a < 100; a++) {
        dir = sprintf("%s/apps/app%02d", root, a)
        system("mkdir -p " dir)
        ns = sprintf("team%02d", a)
        k = dir "/kustomization.yaml"
        print "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: " ns "\nresources:" > k
        for (f = 0; f < 99; f++) {
            name = sprintf("%s/f%02d.yaml", dir, f)
            print "- " sprintf("f%02d.yaml", f) > k
            if (f < 10) {
                if (f % 2 == 0) {
                    print "# Deployment and its extension\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web" f "\n  namespace: " ns "\nspec:\n  replicas: 2   # two\n  template:\n    spec:\n      containers:\n      - name: web\n        image: quay.io/acme/web:1.0\n---" > name
                }
                print "# extension " f " of app " a "\napiVersion: maistra.io/v1\nkind: ServiceMeshExtension\nmetadata:\n  name: ext" f "\n  namespace: " ns "\n  labels:\n    team: " ns "   # owner\nspec:\n  image: quay.io/acme/ext" f ":1." a "\n  phase: " phases[f % 6] "\n  priority: " (f * 10) "\n  workloadSelector:\n    labels:\n      app: web" (f % 3) "\n  config:\n    header: x-ext-" f "\n    enabled: true   # on\n    limits:\n      rps: 100" > name
            } else if (f % 2 == 0) {
                print "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d" f "\n  namespace: " ns "\n  labels: {app: d" f "}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: d" f "}\n  template:\n    metadata:\n      labels: {app: d" f "}\n    spec:\n      containers:\n      - name: main\n        image: quay.io/acme/d" f ":2.0\n        ports:\n        - containerPort: 8080\n        env:\n        - {name: MODE, value: production}\n        - {name: LEVEL, value: info}" > name
            } else {
                print "apiVersion: v1\nkind: Service\nmetadata:\n  name: s" f "\n  namespace: " ns "\nspec:\n  selector: {app: s" f "}\n  ports:\n  - name: http\n    port: 80\n    targetPort: 8080" > name
            }
            close(name)
        }
        close(k)
    }
}'
files=$(find "$repo" -type f -name '*.yaml' | wc -l)
smes=$(grep -rl 'kind: ServiceMeshExtension' "$repo" | wc -l)
echo "$files YAML files, $smes with an SME" >&2

measure() { # label, then the command
    local label=$1; shift
    local log=$work/time.log
    local status=0
    /usr/bin/time -v "$@" >/dev/null 2>"$log" || status=$?
    local wall rss
    wall=$(grep 'Elapsed (wall clock)' "$log" | awk '{print $NF}')
    rss=$(grep 'Maximum resident set size' "$log" | awk '{print $NF}')
    printf '%-28s wall %s  peak RSS %d MiB  exit %d\n' "$label" "$wall" $((rss / 1024)) "$status"
    grep '^migrate' "$log" | sed 's/^/    /' || true
}

cp -r "$repo" "$work/check"
(cd "$work/check" && measure "migrate --check" "$bin" migrate --check --quiet)
cp -r "$repo" "$work/write"
# Writing needs a clean git work tree, as a real repository is (the rewrite's
# time includes git's check of the files it changes).
git -C "$work/write" init -q
git -C "$work/write" add -A
git -C "$work/write" -c user.name=bench -c user.email=bench@example.com \
    -c commit.gpgsign=false commit -q -m 'generated repository'
(cd "$work/write" && measure "migrate (rewrite)" "$bin" migrate . --quiet)
(cd "$work/write" && measure "migrate (second run)" "$bin" migrate . --quiet)
rm -rf "$work/check" "$work/write"

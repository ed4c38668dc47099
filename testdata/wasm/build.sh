#!/usr/bin/env bash
# Rebuild the proxy-wasm test fixtures in this directory from source.
#
#   bash testdata/wasm/build.sh            # build every module
#   bash testdata/wasm/build.sh rust       # only header_append.wasm
#   bash testdata/wasm/build.sh as         # only as_hello.wasm
#
# Runs from any working directory. The committed .wasm files are what the
# tests use; run this only after changing a module's source.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
rust_target="wasm32-unknown-unknown"

die() {
    echo "build.sh: error: $*" >&2
    exit 1
}

need() {
    command -v "$1" >/dev/null 2>&1 || die "'$1' not found on PATH ($2)"
}

# Print "<file>: <size> bytes, sha256 <hash>, <abi export>" and fail unless the
# file is a WebAssembly binary that names a proxy_abi_version_* export.
check_module() {
    local file="$1" magic abi
    magic="$(head -c 4 "$file" | od -An -tx1 | tr -d ' \n')"
    [[ "$magic" == "0061736d" ]] || die "$file does not start with \\0asm"
    # Export names are stored as plain strings; good enough for a sanity check.
    abi="$(grep -a -o 'proxy_abi_version_[0-9_]*' "$file" | sort -u | tr '\n' ' ')"
    [[ -n "$abi" ]] || die "$file has no proxy_abi_version_* export"
    echo "$(basename "$file"): $(wc -c <"$file") bytes, sha256 $(sha256sum "$file" | cut -d' ' -f1), ${abi% }"
}

build_rust() {
    need cargo "install Rust with rustup"
    if command -v rustup >/dev/null 2>&1; then
        rustup target list --installed | grep -qx "$rust_target" ||
            die "Rust target $rust_target is not installed; add it with: rustup target add $rust_target"
    else
        [[ -d "$(rustc --print sysroot)/lib/rustlib/$rust_target" ]] ||
            die "Rust target $rust_target is not installed; add it with: rustup target add $rust_target"
    fi

    local crate="$here/header-append"
    local cargo_home="${CARGO_HOME:-$HOME/.cargo}"
    # Panic messages embed source paths; map the machine-specific prefixes to
    # fixed ones so the output does not depend on where things live. This
    # replaces any RUSTFLAGS from the environment on purpose.
    RUSTFLAGS="--remap-path-prefix=$cargo_home=/cargo --remap-path-prefix=$crate=/header-append" \
        cargo build --release --locked \
        --manifest-path "$crate/Cargo.toml" \
        --target "$rust_target" \
        --target-dir "$crate/target"
    cp "$crate/target/$rust_target/release/header_append.wasm" "$here/header_append.wasm"
    check_module "$here/header_append.wasm"
}

build_as() {
    need npm "install Node.js 20 or newer"
    local pkg="$here/as-hello"
    # npm ci installs exactly what package-lock.json pins.
    (cd "$pkg" && npm ci --no-audit --no-fund && mkdir -p build && npm run --silent build)
    cp "$pkg/build/as_hello.wasm" "$here/as_hello.wasm"
    check_module "$here/as_hello.wasm"
}

if [[ $# -eq 0 ]]; then
    set -- rust as
fi
for module in "$@"; do
    case "$module" in
        rust) build_rust ;;
        as) build_as ;;
        *) die "unknown module '$module' (expected: rust, as)" ;;
    esac
done

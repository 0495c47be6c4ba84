#!/usr/bin/env bash
# Builds the front end into target/site: the hydrate crate for wasm32 with
# the size-optimised `wasm-release` profile, wasm-bindgen (web target),
# wasm-opt -Oz, the stylesheet and the public files. This is what
# cargo-leptos does for this layout, run directly so a fresh machine does not
# spend ~25 minutes compiling cargo-leptos itself.
set -euo pipefail
cd "$(dirname "$0")/.."
SITE="${REGATLAS_SITE_ROOT:-target/site}"
PKG="$SITE/pkg"
BIN="end2end/node_modules/.bin"
mkdir -p "$PKG"

cargo build -p regatlas-frontend --lib --target wasm32-unknown-unknown --profile wasm-release
WASM=target/wasm32-unknown-unknown/wasm-release/regatlas_frontend.wasm

tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
wasm-bindgen "$WASM" --target web --no-typescript --out-dir "$tmp" --out-name regatlas
"$BIN/wasm-opt" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals \
  "$tmp/regatlas_bg.wasm" -o "$tmp/regatlas_bg.opt.wasm"
mv "$tmp/regatlas_bg.opt.wasm" "$PKG/regatlas_bg.wasm"
cp "$tmp/regatlas.js" "$PKG/regatlas.js"
if [ -d "$tmp/snippets" ]; then rm -rf "$PKG/snippets"; cp -r "$tmp/snippets" "$PKG/snippets"; fi

"$BIN/sass" --no-source-map --style=compressed style/main.scss "$PKG/regatlas.css"
cp -r public/. "$SITE/"
printf '==> front end built in %s (wasm %s bytes, gzip %s bytes)\n' "$SITE" \
  "$(stat -c %s "$PKG/regatlas_bg.wasm")" "$(gzip -9c "$PKG/regatlas_bg.wasm" | wc -c)" >&2

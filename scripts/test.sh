#!/usr/bin/env bash
# Command 2: install what is missing and run every test: unit and
# integration (cargo), then the browser tests (Playwright + Debian Chromium)
# against the real server binary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build-frontend.sh
echo "==> cargo tests" >&2
# The WASM crate is left out: in one cargo invocation it would switch the
# app's `hydrate` feature on next to `ssr` and test a server nobody ships.
REGATLAS_SITE_ROOT="$PWD/target/site" cargo test --workspace --exclude regatlas-frontend --all-targets
echo "==> browser tests" >&2
cargo build -p regatlas-server
(cd end2end && REGATLAS_BIN="$PWD/../target/debug/regatlas" REGATLAS_SITE_ROOT="$PWD/../target/site" \
  node --test --test-concurrency=1 tests/)
echo "==> all tests passed" >&2

#!/usr/bin/env bash
# Command 2: install what is missing and run every test: formatting and
# lints, unit and integration (cargo), then the browser tests (Playwright +
# Debian Chromium) against the real server binary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build-frontend.sh
echo "==> rustfmt and clippy" >&2
cargo fmt --all --check
# The workspace's default members (everything but the WASM entry point),
# then the app as the browser gets it.
cargo clippy --all-targets -- -D warnings
cargo clippy -p regatlas-app -p regatlas-frontend --features regatlas-app/hydrate --target wasm32-unknown-unknown -- -D warnings
echo "==> cargo tests" >&2
# Default members only: building the WASM crate in the same invocation would
# switch the app's `hydrate` feature on next to `ssr` and test a server
# nobody ships.
REGATLAS_SITE_ROOT="$PWD/target/site" cargo test --all-targets
echo "==> API tests again on PostgreSQL (a throwaway cluster, a database per test)" >&2
pgdir="$(mktemp -d)"
trap 'scripts/pg-test-cluster.sh stop "$pgdir"; rm -rf "$pgdir"' EXIT
pgurl="$(scripts/pg-test-cluster.sh start "$pgdir")"
REGATLAS_TEST_POSTGRES="$pgurl" REGATLAS_SITE_ROOT="$PWD/target/site" \
  cargo test -p regatlas-server --test api
echo "==> the container image, run from its own root filesystem" >&2
scripts/test-image.sh
echo "==> browser tests" >&2
cargo build -p regatlas-server
# (cluster.test.js runs two instances on the PostgreSQL cluster above.)
(cd end2end && REGATLAS_BIN="$PWD/../target/debug/regatlas" REGATLAS_SITE_ROOT="$PWD/../target/site" \
  REGATLAS_TEST_POSTGRES="$pgurl" node --test --test-concurrency=1 tests/)
echo "==> browser tests again on PostgreSQL" >&2
(cd end2end && REGATLAS_BIN="$PWD/../target/debug/regatlas" REGATLAS_SITE_ROOT="$PWD/../target/site" \
  REGATLAS_TEST_POSTGRES="$pgurl" REGATLAS_E2E_STORE=postgres node --test --test-concurrency=1 tests/)
echo "==> all tests passed" >&2

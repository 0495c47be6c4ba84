#!/usr/bin/env bash
# Command 1: install what is missing, build, and run the dashboard on the
# embedded default (SQLite file ./regatlas.db + built-in emulator with the
# demo world) at http://127.0.0.1:3000. Extra arguments go to `regatlas`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build-frontend.sh
cargo build --release -p regatlas-server
echo "==> Regatlas on http://${REGATLAS_LISTEN:-127.0.0.1:3000} (Ctrl-C to stop)" >&2
exec target/release/regatlas serve --site-root target/site "$@"

#!/usr/bin/env bash
# The `bench` command: installs what is missing, builds release binaries and
# the front end, then prints every benchmark's figures (see BENCHMARKS.md).
#   scripts/bench.sh            all benchmarks
#   scripts/bench.sh poll|ui|latency|migrate|presence
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
scripts/install-deps.sh
scripts/build-frontend.sh
cargo build --release -p regatlas-server
BIN="$PWD/target/release/regatlas"
if [ "$what" = all ] || [ "$what" = poll ]; then
  echo "==> bench poll (500 registries x 5 replicas)" >&2
  "$BIN" bench poll
  echo "==> bench poll under the default ARM read quota" >&2
  "$BIN" bench poll --arm-throttle --cycles 2
fi
if [ "$what" = all ] || [ "$what" = ui ]; then
  echo "==> bench ui (topology page, 50 clients, 10 replicas)" >&2
  "$BIN" bench ui --site-root target/site
fi
if [ "$what" = all ] || [ "$what" = migrate ]; then
  echo "==> bench migrate (2,000 artifacts, import latency 0.8 s, ARM writes 50/s)" >&2
  "$BIN" bench migrate
  for n in 20000 100000; do
    echo "==> bench migrate ($n artifacts, import latency 0.8 s, ARM writes 500/s burst 200, window up to 512)" >&2
    "$BIN" bench migrate --artifacts "$n" --import-latency 0.8 --write-rate 500 --write-burst 200 --max-concurrency 512
  done
fi
if [ "$what" = all ] || [ "$what" = presence ]; then
  echo "==> bench presence (webhook ingest; the view at 10,000 tags x 10 regions; probe reads)" >&2
  "$BIN" bench presence --site-root target/site
fi
if [ "$what" = all ] || [ "$what" = latency ]; then
  echo "==> event-to-screen latency (browser)" >&2
  (cd end2end && REGATLAS_BIN="$BIN" REGATLAS_SITE_ROOT="$PWD/../target/site" node bench/latency.js)
fi

#!/usr/bin/env bash
# The `bench` command: installs what is missing, builds release binaries and
# the front end, then prints every benchmark's figures (see BENCHMARKS.md).
#   scripts/bench.sh            all benchmarks
#   scripts/bench.sh poll|ui|latency|migrate|presence|postgres
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
if [ "$what" = all ] || [ "$what" = postgres ]; then
  # The poll and migration benchmarks again on PostgreSQL (a throwaway
  # cluster, an empty database each), and the take-over time of two instances.
  pgdir="$(mktemp -d)"
  trap 'scripts/pg-test-cluster.sh stop "$pgdir"; rm -rf "$pgdir"' EXIT
  admin="$(scripts/pg-test-cluster.sh start "$pgdir")"
  pgdb() { psql "$admin" -qAtc "CREATE DATABASE $1" >/dev/null; echo "${admin%/postgres}/$1"; }
  echo "==> bench poll on PostgreSQL (500 registries x 5 replicas)" >&2
  "$BIN" bench poll --database "$(pgdb bench_poll)"
  echo "==> bench migrate on PostgreSQL (2,000 artifacts, ARM writes 50/s)" >&2
  "$BIN" bench migrate --database "$(pgdb bench_migrate_2k)"
  echo "==> bench migrate on PostgreSQL (20,000 artifacts, ARM writes 500/s burst 200, window up to 512)" >&2
  "$BIN" bench migrate --database "$(pgdb bench_migrate_20k)" --artifacts 20000 --import-latency 0.8 --write-rate 500 --write-burst 200 --max-concurrency 512
  echo "==> bench takeover (two instances, the leader killed 5 times)" >&2
  "$BIN" bench takeover --database "$(pgdb bench_takeover)" --site-root target/site
fi
if [ "$what" = all ] || [ "$what" = latency ]; then
  echo "==> event-to-screen latency (browser)" >&2
  (cd end2end && REGATLAS_BIN="$BIN" REGATLAS_SITE_ROOT="$PWD/../target/site" node bench/latency.js)
fi

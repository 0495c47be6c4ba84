#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests and benchmarks, on loopback,
# with fsync off (Debian's postgresql; scripts/install-deps.sh installs it).
# Its superuser `regatlas` signs in with a random password (SCRAM), printed
# in the admin URL only: other local users cannot use the cluster.
#   scripts/pg-test-cluster.sh start DIR    initdb + start; prints the admin URL
#   scripts/pg-test-cluster.sh stop DIR     stops it (immediately)
#   scripts/pg-test-cluster.sh restart DIR  stops and starts it on the same port
# PostgreSQL refuses to run as root: as root, the cluster belongs to the
# `postgres` user the Debian package creates.
set -euo pipefail
cmd="${1:?start|stop|restart}"
dir="${2:?cluster directory}"
bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[ -x "$bin/initdb" ] || { echo "error: PostgreSQL is not installed (scripts/install-deps.sh installs it)" >&2; exit 1; }
as_owner() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
start() {
  local port
  port="$(cat "$dir/port")"
  # -o goes through a shell: the socket directory is quoted.
  as_owner "$bin/pg_ctl" -D "$dir/data" -w -t 30 -l "$dir/log" \
    -o "-F -k '$dir' -p $port -c listen_addresses=127.0.0.1 -c max_connections=500" start >/dev/null
}
case "$cmd" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' > "$dir/port"
    case "$dir" in *"'"*) echo "error: the cluster directory may not hold a quote: $dir" >&2; exit 2 ;; esac
    umask 077
    password="$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
    printf '%s\n' "$password" > "$dir/password"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir/password" "$dir/port"
    as_owner "$bin/initdb" -D "$dir/data" -U regatlas -A scram-sha-256 --pwfile="$dir/password" --no-sync >/dev/null
    start
    echo "postgres://regatlas:$password@127.0.0.1:$(cat "$dir/port")/postgres"
    ;;
  stop)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    ;;
  restart)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null
    start
    ;;
  *) echo "usage: $0 start|stop|restart DIR" >&2; exit 2 ;;
esac

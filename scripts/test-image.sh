#!/usr/bin/env bash
# Checks the container image as shipped, without running a container
# (containers cannot run on the test machines): builds it from the debug
# binary, mounts the image's root filesystem, and runs the server from it
# with chroot as the image's user, on the image's own files only. It must
# answer /healthz and be ready (database and front end) on /readyz, serve
# the sign-in redirect, and answer `--version`. Root is needed (buildah's
# storage, chroot).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then echo "skipped: the image check needs root (buildah storage, chroot)" >&2; exit 0; fi
cargo build -p regatlas-server >&2
tag="localhost/regatlas:test-$$"
scripts/build-image.sh target/debug/regatlas "$tag" >/dev/null
b() { buildah --storage-driver vfs "$@"; }
ctr="$(b from "$tag")"
root="$(b mount "$ctr")"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; b unmount "$ctr" >/dev/null 2>&1 || true; b rm "$ctr" >/dev/null 2>&1 || true; b rmi "$tag" >/dev/null 2>&1 || true; }
trap cleanup EXIT
user="$(b inspect --type image --format '{{.OCIv1.Config.User}}' "$tag")"
[ "$user" = "10001:10001" ] || { echo "FAIL: the image runs as '$user', not 10001:10001" >&2; exit 1; }
# Nothing from the host: only what the image holds is visible under chroot.
chroot --userspec=10001:10001 "$root" /usr/local/bin/regatlas --version >/dev/null
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
env -i REGATLAS_SITE_ROOT=/srv/regatlas/site REGATLAS_DATABASE_URL=sqlite:///var/lib/regatlas/regatlas.db HOME=/var/lib/regatlas \
  "$(command -v chroot)" --userspec=10001:10001 "$root" /usr/local/bin/regatlas serve --listen "127.0.0.1:$port" --emulator-time-scale 20 \
  > "$root/tmp/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$root/tmp/serve.log" >&2; echo "FAIL: the server in the image exited" >&2; exit 1; }
  sleep 0.2
done
ready="$(curl -fsS "http://127.0.0.1:$port/readyz")" || { cat "$root/tmp/serve.log" >&2; echo "FAIL: not ready" >&2; exit 1; }
echo "$ready" | grep -q '"status":"ready"' || { echo "FAIL: $ready" >&2; exit 1; }
curl -fsS "http://127.0.0.1:$port/healthz" | grep -q '"status":"ok"'
code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/")"
[ "$code" = 303 ] || [ "$code" = 302 ] || [ "$code" = 200 ] || { echo "FAIL: / answered $code" >&2; exit 1; }
# The database was made by the image's user, in the image's state directory.
owner="$(stat -c %u "$root/var/lib/regatlas/regatlas.db")"
[ "$owner" = 10001 ] || { echo "FAIL: the database belongs to uid $owner" >&2; exit 1; }
echo "image $tag: runs as 10001 from its own root filesystem, ready ($ready)" >&2

#!/usr/bin/env bash
# Builds the Regatlas container image with Debian's buildah, from scratch
# (no base image is downloaded): the `regatlas` binary, the built front end,
# the shared libraries the binary links (as `ldd` lists them), CA
# certificates, and a non-root user (uid 10001) that owns /var/lib/regatlas.
#   scripts/build-image.sh                 release binary, tag localhost/regatlas:VERSION
#   scripts/build-image.sh BINARY TAG      another binary (the tests use the debug one, stripped)
# The image is stored in buildah's local storage (vfs driver); push it with
# `buildah --storage-driver vfs push TAG docker://REGISTRY/regatlas:VERSION`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh >&2
version="$(awk -F'"' '/^version = /{print $2; exit}' Cargo.toml)"
bin="${1:-}"
tag="${2:-localhost/regatlas:$version}"
if [ -z "$bin" ]; then
  cargo build --release -p regatlas-server >&2
  bin=target/release/regatlas
fi
[ -x "$bin" ] || { echo "error: no binary at $bin" >&2; exit 1; }
[ -f target/site/pkg/regatlas.js ] || scripts/build-frontend.sh >&2
b() { buildah --storage-driver vfs "$@"; }

ctr="$(b from scratch)"
trap 'b rm "$ctr" >/dev/null 2>&1 || true' EXIT
root="$(b mount "$ctr")"
# The binary, stripped of debug information.
install -d "$root/usr/local/bin"
objcopy --strip-debug "$bin" "$root/usr/local/bin/regatlas"
chmod 0755 "$root/usr/local/bin/regatlas"
# The shared libraries it links, and the dynamic loader, at their paths.
ldd "$bin" | awk '/=> \// {print $3} /^[[:space:]]*\/[^ ]*ld-linux/ {print $1}' | sort -u | while read -r lib; do
  install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
done
# CA certificates (https to ARM, Entra ID and registries).
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
# The front end.
install -d "$root/srv/regatlas"
cp -r target/site "$root/srv/regatlas/site"
# A non-root user and its state directory; /tmp for the runtime.
install -d "$root/etc"
printf 'root:x:0:0:root:/root:/sbin/nologin\nregatlas:x:10001:10001:Regatlas:/var/lib/regatlas:/sbin/nologin\n' > "$root/etc/passwd"
printf 'root:x:0:\nregatlas:x:10001:\n' > "$root/etc/group"
printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"
install -d -m 0750 -o 10001 -g 10001 "$root/var/lib/regatlas"
install -d -m 1777 "$root/tmp"
b unmount "$ctr" >/dev/null

b config \
  --user 10001:10001 \
  --workingdir /var/lib/regatlas \
  --env REGATLAS_SITE_ROOT=/srv/regatlas/site \
  --env REGATLAS_DATABASE_URL=sqlite:///var/lib/regatlas/regatlas.db \
  --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
  --port 3000 \
  --entrypoint '["/usr/local/bin/regatlas"]' \
  --cmd '["serve"]' \
  --label org.opencontainers.image.title=regatlas \
  --label "org.opencontainers.image.version=$version" \
  --label org.opencontainers.image.licenses="MIT OR Apache-2.0" \
  "$ctr"
b commit --quiet "$ctr" "$tag" >/dev/null
echo "$tag"

#!/usr/bin/env bash
# Installs whatever the project needs and is missing. Idempotent and quick
# when everything is present. Sources: rustup (wasm target), crates.io
# (wasm-bindgen-cli pinned to Cargo.lock), npm (binaryen's wasm-opt,
# playwright-core, sass), Debian (chromium, chromium-driver, skopeo, libssl-dev, pkg-config,
# docker-registry, postgresql, buildah, curl, prometheus's promtool). Nothing downloads a browser or a binary from elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '==> %s\n' "$*" >&2; }

# 1. Rust WASM target.
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  log "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# 1b. rustfmt and clippy (the test command checks formatting and lints).
for component in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^${component}"; then
    log "adding rust component ${component}"
    rustup component add "${component}"
  fi
done

# 2. wasm-bindgen-cli at exactly the version in Cargo.lock.
WBG_VERSION="$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' Cargo.lock)"
if [ -z "$WBG_VERSION" ]; then echo "error: wasm-bindgen not found in Cargo.lock" >&2; exit 1; fi
if ! command -v wasm-bindgen >/dev/null || [ "$(wasm-bindgen --version | awk '{print $2}')" != "$WBG_VERSION" ]; then
  log "installing wasm-bindgen-cli $WBG_VERSION"
  cargo install wasm-bindgen-cli --version "=$WBG_VERSION" --force
fi

# 3. Debian packages.
need_apt=()
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
command -v skopeo >/dev/null || need_apt+=(skopeo)
command -v docker-registry >/dev/null || need_apt+=(docker-registry)
# azure_identity's client-certificate credential links OpenSSL.
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
dpkg-query -W -f='${Status}' libssl-dev 2>/dev/null | grep -q "ok installed" || need_apt+=(libssl-dev)
# The PostgreSQL store's tests run on a throwaway cluster (scripts/pg-test-cluster.sh).
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
# The container image is built with buildah (scripts/build-image.sh) and checked with curl.
command -v buildah >/dev/null || need_apt+=(buildah)
command -v curl >/dev/null || need_apt+=(curl)
command -v objcopy >/dev/null || need_apt+=(binutils)
if [ "${#need_apt[@]}" -gt 0 ]; then
  log "installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# 3b. promtool (checks /metrics and the sample alert rules in the tests):
# Debian's prometheus package, unpacked into .tools/ rather than installed,
# so no Prometheus service is set up on this machine.
if ! command -v promtool >/dev/null && [ ! -x .tools/prometheus/usr/bin/promtool ]; then
  log "unpacking promtool from Debian's prometheus package into .tools/"
  mkdir -p .tools
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  (cd .tools && { apt-get download prometheus 2>/dev/null || { $SUDO apt-get update -qq && apt-get download prometheus; }; } \
    && dpkg -x prometheus_*.deb prometheus && rm -f prometheus_*.deb)
fi

# 4. npm packages (wasm-opt, sass, playwright-core, oidc-provider), pinned by end2end/package-lock.json.
if [ ! -x end2end/node_modules/.bin/wasm-opt ] || [ ! -d end2end/node_modules/playwright-core ] \
   || [ ! -d end2end/node_modules/oidc-provider ] \
   || [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
  log "installing npm packages in end2end/"
  (cd end2end && npm ci --no-audit --no-fund --loglevel=error)
fi

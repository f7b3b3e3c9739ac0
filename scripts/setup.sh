#!/usr/bin/env bash
# Everything the stack needs on a fresh Debian 12 machine, run as root.
# Idempotent and quick when already done: `make run` and `make test` call it.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  kamailio kamailio-websocket-modules kamailio-tls-modules kamailio-sqlite-modules
  kamailio-postgres-modules rtpengine-daemon rtpengine-utils sip-tester debootstrap
  python3-venv python3-dev openssl iproute2 sox nodejs chromium espeak-ng
)
ROOTFS=${AITCOMMS_ROOTFS:-/var/lib/aitcomms/asterisk-rootfs}

if [ "$(id -u)" != 0 ]; then
  echo "setup needs root (apt packages, the Asterisk chroot)" >&2
  exit 1
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# rtpengine and kamailio are ours to start (per stack), not the system's.
for svc in rtpengine-daemon kamailio; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl disable --now "$svc" >/dev/null 2>&1 || true
  fi
done

bash asterisk/build-rootfs.sh "$ROOTFS"

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/pip install -q -U pip
  .venv/bin/pip install -q -e '.[test]'
  touch "$stamp"
fi

# The web UI: JS dependencies from web/package-lock.json, bundled into web/dist.
# (Debian ships npm apart from nodejs; NodeSource's nodejs carries its own.)
if ! command -v npm >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends npm
fi
if [ ! -d web/node_modules ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ ! -f web/dist/index.html ] || [ -n "$(find web/src web/build.mjs -newer web/dist/index.html 2>/dev/null | head -1)" ]; then
  (cd web && npm run --silent build)
fi

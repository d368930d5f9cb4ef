#!/usr/bin/env bash
# Installs Debian's Chromium (for `npm run test:browser`) when /usr/bin/chromium
# is missing. Never downloads a browser through npm or Playwright.
# Usage: scripts/ensure-chromium.sh   (as root, or with sudo available)
set -euo pipefail

CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
  echo "ensure-chromium: $CHROMIUM present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "ensure-chromium: $CHROMIUM missing and not root (no sudo): install the Debian package 'chromium'" >&2
    exit 1
  fi
fi

# apt may be busy with another install: retry on the dpkg lock for a while.
apt_retry() {
  for attempt in 1 2 3 4 5 6; do
    if $SUDO env DEBIAN_FRONTEND=noninteractive "$@"; then return 0; fi
    echo "ensure-chromium: '$*' failed (attempt $attempt), retrying in 10 s" >&2
    sleep 10
  done
  return 1
}

echo "ensure-chromium: installing Debian chromium"
apt_retry apt-get update -qq
apt_retry apt-get install -y -qq chromium
"$CHROMIUM" --version 2>/dev/null | grep -i chromium || true
test -x "$CHROMIUM"

#!/bin/sh
# Installs Debian's Chromium for the dashboard browser tests when it is missing.
# Playwright drives it through `executable_path`; no browser is ever downloaded.
set -e
if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's chromium for the browser tests..."
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "chromium is not installed and cannot be installed here (needs root and apt-get):"
  echo "the browser tests will be skipped. Install Debian's 'chromium' package to run them."
fi

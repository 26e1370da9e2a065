#!/bin/sh
# Installs Debian's wrk (the bench's load generator) when it is missing.
set -e
if command -v wrk >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's wrk for the bench..."
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
else
  echo "wrk is not installed and cannot be installed here (needs root and apt-get):"
  echo "install Debian's 'wrk' package, then run 'make bench' again."
  exit 1
fi

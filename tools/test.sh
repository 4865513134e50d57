#!/usr/bin/env bash
# Sets up what the tests need on a fresh Debian machine that has npm, then runs them:
# Deno (from npm), the Debian packages whose real programs the tests drive, the npm
# dependencies from deno.lock, and `deno task test`. Run as root to install packages;
# otherwise it names the command to run first.
set -euo pipefail
cd "$(dirname "$0")/.."

DENO_VERSION=2.9.6
# openssl: test certificates; slapd, ldap-utils: LDAP; nginx, apache2: reverse proxies;
# python3-aiohttp, python3-requests: the reading styles of PyPubSub's Python clients;
# redis-server: the cluster bus; chromium: browser pages; curl: HTTP/2.
PACKAGES=(openssl curl slapd ldap-utils nginx apache2 python3-aiohttp python3-requests
  redis-server chromium)

if ! command -v deno >/dev/null || [ "$(deno --version | awk 'NR==1 {print $2}')" != "$DENO_VERSION" ]; then
  npm install -g "deno@$DENO_VERSION"
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "tools/test.sh: missing Debian packages; install them first with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q "${missing[@]}"
fi

deno install --frozen
deno task test

#!/usr/bin/env bash
# Runs the whole test suite. Installs what the tests need when it is missing,
# from Debian's packages: redis-server (the tests start their own servers on
# free loopback ports; the distribution's service is not used), openssl
# (to make the certificates of the TLS Redis test) and prometheus (for
# promtool, which checks and unit-tests the alert rules); then Chromium and
# the Python clients of tests/requirements.txt (scripts/browser-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=""
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
command -v redis-cli >/dev/null 2>&1 || missing="$missing redis-tools"
command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
command -v promtool >/dev/null 2>&1 || missing="$missing prometheus"
if [ -n "$missing" ]; then
  echo "scripts/test.sh: installing$missing (Debian packages)" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# Chromium and the Python clients the tests drive (see the script).
# shellcheck source=scripts/browser-deps.sh
source scripts/browser-deps.sh

cargo test --workspace --locked "$@"

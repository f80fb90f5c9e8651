#!/usr/bin/env bash
# Runs the whole test suite. Installs what the tests need when it is missing,
# from Debian's packages: redis-server (the tests start their own servers on
# free loopback ports; the distribution's service is not used), openssl
# (to make the certificates of the TLS Redis test) and prometheus (for
# promtool, which checks and unit-tests the alert rules) and chromium (the
# pages' tests drive it headless); and the Python clients of
# tests/requirements.txt from PyPI (the official openai SDK, and Playwright,
# which drives Debian's Chromium: it never downloads a browser of its own).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=""
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
command -v redis-cli >/dev/null 2>&1 || missing="$missing redis-tools"
command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
command -v promtool >/dev/null 2>&1 || missing="$missing prometheus"
[ -x /usr/bin/chromium ] || missing="$missing chromium"
if [ -n "$missing" ]; then
  echo "scripts/test.sh: installing$missing (Debian packages)" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# Real clients the tests drive (tests/requirements.txt, from PyPI), kept
# apart from the system's Python packages.
pydeps="$PWD/target/pydeps"
if ! cmp -s tests/requirements.txt "$pydeps/.requirements" 2>/dev/null; then
  echo "scripts/test.sh: installing tests/requirements.txt (PyPI) into target/pydeps" >&2
  rm -rf "$pydeps"
  python3 -m pip install --quiet --disable-pip-version-check --no-warn-conflicts \
    --target "$pydeps" -r tests/requirements.txt
  cp tests/requirements.txt "$pydeps/.requirements"
fi
export MODELS_CACHE_PYDEPS="$pydeps"

cargo test --workspace --locked "$@"

#!/usr/bin/env bash
# Sourced by scripts/test.sh and bench/run.sh: makes sure Debian's Chromium
# is installed and the Python packages of tests/requirements.txt (PyPI: the
# official openai SDK, and Playwright, which drives that Chromium and never
# downloads a browser of its own) are in target/pydeps, then exports
# MODELS_CACHE_PYDEPS. Run from the repository's root.

if [ ! -x /usr/bin/chromium ]; then
  echo "installing chromium (Debian package)" >&2
  _sudo=""
  if [ "$(id -u)" -ne 0 ]; then _sudo="sudo"; fi
  $_sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $_sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

_pydeps="$PWD/target/pydeps"
if ! cmp -s tests/requirements.txt "$_pydeps/.requirements" 2>/dev/null; then
  echo "installing tests/requirements.txt (PyPI) into target/pydeps" >&2
  rm -rf "$_pydeps"
  python3 -m pip install --quiet --disable-pip-version-check --no-warn-conflicts \
    --target "$_pydeps" -r tests/requirements.txt
  cp tests/requirements.txt "$_pydeps/.requirements"
fi
export MODELS_CACHE_PYDEPS="$_pydeps"

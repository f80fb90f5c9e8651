#!/usr/bin/env bash
# Runs the whole test suite. Installs what the tests need when it is missing:
# redis-server, from Debian's packages (the tests start their own servers on
# free loopback ports; the distribution's service is not used).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
  echo "scripts/test.sh: installing redis-server (Debian package)" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends redis-server >/dev/null
fi

cargo test --workspace --locked "$@"

#!/usr/bin/env bash
# The benchmark of issues 5, 9, 10, 11 and 12: models-cache vs the physical
# limit vs nginx, catalog queries, changes, the models page's load in
# headless Chromium, and reads under chaos (Redis killed or frozen, gateways
# failing).
#
#   bash bench/run.sh            full run (release build, 10 s per load run);
#                                writes bench/results.md and bench/results.json
#   bash bench/run.sh --quick    about a second per scenario, 50 models per
#                                gateway, debug build; only the correctness targets
#                                are asserted (one upstream request per gateway,
#                                every read and warm ok, no wrk errors, no error
#                                and no data lost under chaos), not speed;
#                                writes target/bench-quick/ (what CI runs)
#
# Other arguments go to bench-harness (`--help` lists them: --kind,
# --seconds, --connections, --server-cpus, --strict…). It installs what it
# needs from Debian's packages when missing (wrk, nginx, redis-server,
# redis-tools; chromium and the Python test clients through
# scripts/browser-deps.sh), builds the binaries, starts everything on
# loopback, and stops everything it started, also on failure, timeout or
# Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
for arg in "$@"; do
  if [ "$arg" = "--quick" ]; then quick=1; fi
done

install_missing() {
  local missing=""
  command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$missing nginx"
  command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
  command -v redis-cli >/dev/null 2>&1 || missing="$missing redis-tools"
  command -v taskset >/dev/null 2>&1 || missing="$missing util-linux"
  [ -z "$missing" ] && return 0
  echo "bench/run.sh: installing$missing (Debian packages)" >&2
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  # Debian starts a freshly installed nginx as a system service on port 80;
  # the benchmark runs its own, so services are kept from starting while
  # installing (policy-rc.d), unless the machine already has such a policy.
  local policy=/usr/sbin/policy-rc.d added_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod +x "$policy"
    added_policy=1
  fi
  $sudo apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
  if [ "$added_policy" = 1 ]; then $sudo rm -f "$policy"; fi
}

install_missing
# Chromium and Playwright for the page scenario; exports MODELS_CACHE_PYDEPS.
# shellcheck source=scripts/browser-deps.sh
source scripts/browser-deps.sh

if [ "$quick" = 1 ]; then
  profile_args=()
  bin_dir=target/debug
  out=target/bench-quick
  deadline=${BENCH_TIMEOUT:-300}
else
  profile_args=(--release)
  bin_dir=target/release
  out=bench
  deadline=${BENCH_TIMEOUT:-1800}
fi

cargo build --locked "${profile_args[@]}" -p models-cache -p models-cache-bench

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain 2>/dev/null | grep -v '^?? ' | grep -v ' bench/results\.' || true)" ]; then
  commit="$commit+dirty"
fi

# The harness and everything it starts form one process group (setsid), so
# whatever happens the group is stopped on exit. The harness bounds itself by
# --deadline; the group kill is the backstop.
setsid "$bin_dir/bench-harness" --bin-dir "$bin_dir" --out "$out" --commit "$commit" \
  --deadline "$deadline" --drive tests/browser/drive.py --pydeps "$MODELS_CACHE_PYDEPS" "$@" &
harness=$!
stop_group() {
  kill -TERM -- "-$harness" 2>/dev/null || return 0
  for _ in $(seq 50); do
    kill -0 -- "-$harness" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL -- "-$harness" 2>/dev/null || true
}
trap stop_group EXIT
trap 'exit 130' INT TERM
status=0
wait "$harness" || status=$?
exit "$status"

#!/usr/bin/env bash
# Memory and rebuild figures of issue 13 (points 1 and 2), on the release
# binary and the embedded store, one static gateway of N models (~1 KB each):
#
#   bash bench/memory.sh [MODELS] [QUERIES]     (defaults: 10000 300)
#
# prints the resident memory after the first read and after QUERIES distinct
# queries (limit=100001…, then offset=1…), and the CPU time of 20 full-catalog
# reads 150 ms apart with the views built by then. Loopback only; stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
models=${1:-10000}
queries=${2:-300}
cargo build --release --locked --quiet --bin models-cache
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 - "$dir/big.json" "$models" <<'PY'
import json, sys
desc = "A capable general-purpose model with long context. " * 14
json.dump([{"id": f"vendor-{i % 50}/model-{i}", "name": f"Vendor {i % 50} Model {i}",
            "description": desc, "created": 1700000000 + i, "context_length": 128000,
            "architecture": {"input_modalities": ["text", "image"], "output_modalities": ["text"]},
            "pricing": {"prompt": "0.000003", "completion": "0.000015"},
            "top_provider": {"context_length": 128000, "max_completion_tokens": 16384},
            "supported_parameters": ["tools", "temperature", "top_p", "max_tokens"]}
           for i in range(int(sys.argv[2]))], open(sys.argv[1], "w"))
PY
printf '[[gateway]]\nid = "big"\nkind = "static"\npath = "%s/big.json"\nmax_body_bytes = 1000000000\n' "$dir" > "$dir/gateways.toml"
(cd "$dir" && exec env -i PATH="$PATH" BIND_ADDR="127.0.0.1:$port" RUST_LOG=warn \
   timeout 600 "$OLDPWD/target/release/models-cache" > "$dir/log" 2>&1) &
pid=""
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do
  pid=$(pgrep -f "models-cache$" -n -u "$(id -u)" || true)
  curl -sf "127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
pid=$(pgrep -n -x models-cache)
rss() { awk '/VmRSS/ {print int($2/1024)}' "/proc/$pid/status"; }
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
url="127.0.0.1:$port/api/models"
curl -s -o /dev/null "$url"
echo "models: $models; resident after the first read: $(rss) MiB"
half=$((queries / 2))
for i in $(seq "$half"); do curl -s -o /dev/null "$url?limit=$((100000 + i))"; done
echo "after $half distinct limits past the end: $(rss) MiB"
for i in $(seq "$((queries - half))"); do curl -s -o /dev/null "$url?offset=$i"; done
echo "after $((queries - half)) distinct offsets as well: $(rss) MiB"
ticks=$(getconf CLK_TCK)
before=$(cpu)
for _ in $(seq 20); do curl -s -o /dev/null "$url"; curl -s -o /dev/null -H 'Accept-Encoding: gzip' "$url"; sleep 0.15; done
echo "20 full-catalog reads in each encoding: $(( ($(cpu) - before) * 1000 / ticks )) ms of CPU"
curl -s "127.0.0.1:$port/metrics" | grep '^models_cache_views_built_total' | sed 's/^/views built in all: /'

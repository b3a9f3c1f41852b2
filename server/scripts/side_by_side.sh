#!/usr/bin/env bash
# Quick side-by-side throughput check: redis-server-optimized vs Redis 8, both pinned to CPU 0,
# redis-benchmark on CPU 1, runs interleaved. Prints per-test rps ratios and their geomean.
# Usage: scripts/side_by_side.sh [PIPELINE] [ROUNDS] [REQUESTS] [BINARY] [CONFIG]
# A quick check only: the paired, repeated protocol lives in `python -m benchmark suite`.
set -euo pipefail
P=${1:-16}
ROUNDS=${2:-3}
N=${3:-100000}
BIN=${4:-$(dirname "$0")/../target/release/redis-server-optimized}
CONFIG=${5:-}
R8=${REDIS8_BIN_DIR:-/var/cache/redisevolve-ci/redis-8.0.2/bin}
TESTS=${TESTS:-ping_inline,ping_mbulk,set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100,lrange_300,lrange_500,lrange_600,mset,xadd}
PORT_A=${PORT_A:-17101}
PORT_B=${PORT_B:-17102}
args=(--port "$PORT_A")
[ -n "$CONFIG" ] && args+=(--config "$CONFIG")
taskset -c 0 "$BIN" "${args[@]}" >/tmp/side_by_side_a.log 2>&1 &
PID_A=$!
taskset -c 0 "$R8/redis-server" --port "$PORT_B" --save '' --appendonly no >/tmp/side_by_side_b.log 2>&1 &
PID_B=$!
trap 'kill $PID_A $PID_B 2>/dev/null || true' EXIT
sleep 0.5
run() {
  taskset -c 1 "$R8/redis-benchmark" -p "$1" -c 50 -d 64 -r 100000 -n "$N" -P "$P" -q -t "$TESTS" 2>&1 |
    tr '\r' '\n' | grep 'requests per second' | sed -E 's/^ *([^:]+): ([0-9.]+) requests.*/\1\t\2/'
}
: >/tmp/side_by_side.tsv
for r in $(seq "$ROUNDS"); do
  run "$PORT_A" | sed "s/^/A\t/" >>/tmp/side_by_side.tsv
  run "$PORT_B" | sed "s/^/B\t/" >>/tmp/side_by_side.tsv
done
python3 - "$P" <<'PY'
import collections, math, statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open("/tmp/side_by_side.tsv") if l.strip()]
d = collections.defaultdict(lambda: collections.defaultdict(list))
for side, test, rps in rows:
    d[test][side].append(float(rps))
ratios = []
print(f"P={sys.argv[1]}  test                       ours(median)  redis8(median)  ratio")
for test, sides in d.items():
    a, b = statistics.median(sides["A"]), statistics.median(sides["B"])
    ratios.append(a / b)
    print(f"  {test[:36]:36s} {a:12.0f} {b:14.0f}  {a/b:5.2f}")
print(f"geomean ratio: {math.exp(sum(map(math.log, ratios))/len(ratios)):.3f}")
PY

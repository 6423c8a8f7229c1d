#!/bin/sh
# The Zipf workload against one edge, then against three edges sharing a
# Redis (each taking a third of the connections, as behind a load balancer),
# on this machine: origin requests and renders per 1,000 requests, hit
# ratio and p99. bench/fleet.sh [duration] [connections]
set -eu
cd "$(dirname "$0")/.."
dur=${1:-30s}
conns=${2:-30}
dir=$(mktemp -d)
pids=""
trap 'kill $pids 2>/dev/null; rm -rf "$dir"' EXIT
go build -o "$dir/imgedge" .
go build -o "$dir/bench" ./bench
metric() { # sum of a counter over the given admin ports
  name=$1; shift
  for p in "$@"; do curl -s "http://127.0.0.1:$p/metrics"; done | awk -v n="$name" 'index($0, n) == 1 { s += $NF } END { printf "%d", s }'
}
report() { # label, bench JSON files..., then "--" and admin ports
  label=$1; shift
  files=""; while [ "$1" != "--" ]; do files="$files $1"; shift; done; shift
  sum() { python3 -c 'import json,sys; rs=[json.load(open(f)) for f in sys.argv[2:]]; print(eval(sys.argv[1]))' "$@"; }
  req=$(sum 'sum(r["requests"] for r in rs)' $files)
  hits=$(sum 'sum(r["cache"].get("hit",0)+r["cache"].get("stale",0) for r in rs)' $files)
  p99=$(sum 'max(r["latency_ms"]["p99"] for r in rs)' $files)
  origin=$(metric imgedge_origin_requests_total "$@")
  renders=$(metric imgedge_transforms_total "$@")
  rerr=$(metric imgedge_redis_errors_total "$@")
  python3 -c "r=$req; print(f'$label: {r} requests, $origin origin requests and $renders renders ({1000*$origin/r:.2f} and {1000*$renders/r:.2f} per 1,000), hit ratio {100*$hits/r:.1f} %, worst p99 {$p99:.1f} ms, Redis errors $rerr')"
}
start_edge() { # public admin [env...]
  pub=$1; adm=$2; shift 2
  env IMGEDGE_LISTEN=127.0.0.1:$pub IMGEDGE_ADMIN_LISTEN=127.0.0.1:$adm "$@" "$dir/imgedge" 2>/dev/null &
  pids="$pids $!"
  until curl -sf "http://127.0.0.1:$adm/readyz" >/dev/null; do sleep 0.1; done
}
# One node.
start_edge 18180 19190
"$dir/bench" -url http://127.0.0.1:18180 -workload bench/workloads/zipf.yaml -concurrency "$conns" -duration "$dur" -json -quiet > "$dir/one.json"
report "1 node" "$dir/one.json" -- 19190
kill $pids; pids=""
# Three nodes and a Redis.
redis-server --port 16390 --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
pids="$pids $!"
sleep 0.3
for i in 1 2 3; do start_edge 1818$i 1919$i IMGEDGE_REDIS_URL=redis://127.0.0.1:16390/0; done
loads=""
for i in 1 2 3; do
  "$dir/bench" -url http://127.0.0.1:1818$i -workload bench/workloads/zipf.yaml -concurrency $((conns / 3)) -duration "$dur" -json -quiet > "$dir/n$i.json" &
  loads="$loads $!"
done
for p in $loads; do wait "$p"; done
report "3 nodes + Redis" "$dir/n1.json" "$dir/n2.json" "$dir/n3.json" -- 19191 19192 19193

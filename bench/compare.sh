#!/usr/bin/env bash
# Runs imgedge's comparisons in one go and prints the ratios (issue 7 targets):
#   hits:   imgedge vs a bare fasthttp server with the same bytes in memory, and vs
#           nginx serving them from disk with sendfile (wrk, 64 connections, 25 KB);
#   misses: unique variants per second vs a bare govips loop doing the same resize
#           (1600x1200 JPEG -> ~300 px WebP) at the same parallelism;
#   bytes:  output bytes of the same 301 variants from imgedge and from the loop;
#   flood:  hit latency while misses arrive at 4x what the edge can render;
#   memory: resident memory through a 32-connection miss flood on 12 MP JPEGs
#           (skipped with --quick).
# Needs nginx, wrk, libvips-dev and Go; reads bench/images. Loopback only.
#   browser hits: a hit with every browser feature on (CORS list, Timing-Allow-Origin, client hints, two
#           flags, downstream freshness headers, Surrogate-Key; a 4 KB AVIF) vs bare fasthttp with the same
#           body, and vs bare fasthttp sending the very same response (headers and body).
# --hits, --browser-hits, --misses, --bytes, --flood, --memory: only that part. FLOOD_SECONDS sets the flood length (60),
# MISS_SECONDS each miss run's (15).
set -euo pipefail
cd "$(dirname "$0")/.."
quick=false hitsonly=false memonly=false missonly=false floodonly=false bytesonly=false browseronly=false
[ "${1:-}" = "--quick" ] && quick=true
[ "${1:-}" = "--hits" ] && hitsonly=true
[ "${1:-}" = "--memory" ] && memonly=true
[ "${1:-}" = "--misses" ] && missonly=true
[ "${1:-}" = "--flood" ] && floodonly=true
[ "${1:-}" = "--bytes" ] && bytesonly=true
[ "${1:-}" = "--browser-hits" ] && browseronly=true
images=bench/images
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  nginx -c "$work/nginx.conf" -s stop 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
for tool in nginx wrk go; do
  command -v "$tool" >/dev/null || { echo "compare.sh: $tool is missing (apt-get install -y nginx wrk)" >&2; exit 1; }
done

go build -o "$work/imgedge" .
go build -o "$work/bench" ./bench
mkdir -p "$work/root"
cp "$images"/*.jpg "$images"/*.png "$work/root/"

start_edge() { # extra environment as arguments
  env IMGEDGE_ORIGIN="file:$work/root" IMGEDGE_LOG_HIT_SAMPLE=0 "$@" "$work/imgedge" 2>"$work/edge.log" &
  edge_pid=$!
  pids+=("$edge_pid")
  for _ in $(seq 100); do curl -fs http://127.0.0.1:9090/readyz >/dev/null && return; sleep 0.1; done
  echo "imgedge did not start" >&2; cat "$work/edge.log" >&2; exit 1
}
stop_edge() { kill "$edge_pid"; wait "$edge_pid" 2>/dev/null || true; }
rps() { wrk -t2 -c64 -d10s --latency "$1" | awk '/Requests\/sec/ {r=$2} /^ +99%/ {p=$2} END {print r, p}'; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}'; }

if $browseronly; then
  echo "== browser hits: wrk -t2 -c64 -d10s with a browser's headers; 3 interleaved rounds, medians"
  browser=(-H "Accept: image/avif,image/webp,image/apng,image/*,*/*;q=0.8" -H "Origin: https://b.example" -H "Sec-CH-DPR: 2" -H "Save-Data: on")
  path="/kodim23.png?w=150&auto=format&ch=DPR,Save-Data"
  start_edge IMGEDGE_CORS_ALLOW_ORIGINS=https://a.example,https://b.example IMGEDGE_TIMING_ALLOW_ORIGINS='*' \
    IMGEDGE_FLAGS_JXL_ROLLOUT=50 IMGEDGE_FLAGS_QUALITIES_ROLLOUT=50
  curl -fs "${browser[@]}" -o /dev/null "http://127.0.0.1:8080$path"
  curl -fs "${browser[@]}" -o "$work/variant" -D "$work/headers" "http://127.0.0.1:8080$path"
  grep -q "hit" "$work/headers" || { echo "the browser variant was not a hit" >&2; exit 1; }
  "$work/bench" serve-bytes -file "$work/variant" -addr 127.0.0.1:8099 2>/dev/null &
  pids+=($!)
  "$work/bench" serve-bytes -file "$work/variant" -headers "$work/headers" -addr 127.0.0.1:8097 2>/dev/null &
  pids+=($!)
  sleep 0.5
  declare -A bruns
  servers=(bare:8099 bare-same-response:8097 imgedge:8080)
  for round in 1 2 3; do
    for server in "${servers[@]}"; do
      r=$(wrk -t2 -c64 -d10s "${browser[@]}" "http://127.0.0.1:${server#*:}$path" | awk '/Requests\/sec/ {print $2}')
      bruns[${server%%:*}]+="$r "
      echo "round $round ${server%%:*}: $r req/s"
    done
  done
  bare_rps=$(median ${bruns[bare]}) same_rps=$(median ${bruns[bare-same-response]})
  for server in "${servers[@]}"; do
    name=${server%%:*} r=$(median ${bruns[${server%%:*}]})
    printf "%-20s %10s req/s  %5s of bare fasthttp  %5s of bare fasthttp sending the same response (target >= 0.95)\n" \
      "$name" "$r" "$(ratio "$r" "$bare_rps")" "$(ratio "$r" "$same_rps")"
  done
  stop_edge
  exit 0
fi

if $floodonly || ! { $memonly || $hitsonly || $missonly || $bytesonly; }; then
echo
echo "== hits during a miss flood: new 1600x1200 sources at 4x the rate the edge renders them"
"$work/bench" serve-bytes -file "$work/root/photo-1600x1200-q85.jpg" -addr 127.0.0.1:8098 2>/dev/null &
flood_origin=$!
pids+=("$flood_origin")
sed 's/kodim23-512w-q80.jpg/hit.jpg/; s/widths: \[0\]/widths: [320]/; s/formats: \[source\]/formats: [webp]/' bench/workloads/hit.yaml >"$work/hitv.yaml"
hitp99() { awk -F'[:,}]' '{for (i = 1; i < NF; i++) {if ($i ~ /"p99"/) p = $(i+1)}} END {print p}' "$1"; }
for round in 1 2 3; do
  start_edge IMGEDGE_ORIGIN=http://127.0.0.1:8098
  curl -fs -o /dev/null "http://127.0.0.1:8080/hit.jpg?w=320&fm=webp"
  # Capacity: new sources per second, 4 at a time.
  cap=$("$work/bench" -workload bench/workloads/sources.yaml -concurrency 4 -duration 5s -quiet -json | awk -F'[:,]' '/"rps"/ {print int($2)}')
  "$work/bench" -workload "$work/hitv.yaml" -rate 1000 -concurrency 32 -duration 10s -quiet -json >"$work/calm.json"
  "$work/bench" -workload bench/workloads/sources.yaml -rate $((4 * cap)) -concurrency 256 -duration 14s -quiet -json >"$work/flood.json" &
  flooder=$!
  sleep 2
  "$work/bench" -workload "$work/hitv.yaml" -rate 1000 -concurrency 32 -duration 10s -quiet -json >"$work/stormy.json"
  wait "$flooder"
  stop_edge
  statuses=$(awk '/"status"/,/}/' "$work/flood.json" | tr -d ' \n' | sed 's/"status"://')
  echo "round $round: capacity $cap/s, flood $((4 * cap))/s ($statuses); hit p99 at 1000/s: calm $(hitp99 "$work/calm.json") ms, during the flood $(hitp99 "$work/stormy.json") ms (target < 10)"
done
kill "$flood_origin"; wait "$flood_origin" 2>/dev/null || true
$floodonly && exit 0
fi

if ! $memonly && ! $bytesonly; then
if ! $missonly; then
echo "== hits: wrk -t2 -c64 -d10s, 25,329-byte JPEG; 3 interleaved rounds, medians"
variant=kodim23-512w-q80.jpg
sed "s#/tmp/nginxroot#$work/root#; s#/tmp/nginx-bench#$work/nginx#" bench/nginx.conf >"$work/nginx.conf"
nginx -c "$work/nginx.conf"
"$work/bench" serve-bytes -file "$work/root/$variant" -addr 127.0.0.1:8099 2>/dev/null &
pids+=($!)
start_edge
curl -fs -o /dev/null "http://127.0.0.1:8080/$variant"
sleep 0.5
declare -A runs p99s
servers=(bare:8099 nginx:8088 imgedge:8080)
for round in 1 2 3; do
  for server in "${servers[@]}"; do
    read -r r p < <(rps "http://127.0.0.1:${server#*:}/$variant")
    runs[${server%%:*}]+="$r " p99s[${server%%:*}]+="$p "
    echo "round $round ${server%%:*}: $r req/s, p99 $p"
  done
done
bare_rps=$(median ${runs[bare]}) nginx_rps=$(median ${runs[nginx]})
for server in "${servers[@]}"; do
  name=${server%%:*} r=$(median ${runs[${server%%:*}]})
  printf "%-24s %10s req/s  %5s of bare fasthttp  %5s of nginx (target >= 0.90)  p99s %s(target < 5ms)\n" \
    "$name" "$r" "$(ratio "$r" "$bare_rps")" "$(ratio "$r" "$nginx_rps")" "${p99s[$name]}"
done
stop_edge
$hitsonly && exit 0
fi

echo
echo "== misses: ~300 px (widths 150..450, q 70..90), 4 at a time: imgedge (4 connections) against a bare govips loop doing the same work"
echo "   srcset: every request a new size of one source; sources: every request a new source. 3 interleaved rounds, medians."
go build -o "$work/loop" ./bench/loop
rows=("photo-1600x1200-q85.jpg webp webp" "camera-4000x3000-q90.jpg jpg jpeg")
MISS_SECONDS=${MISS_SECONDS:-15}
declare -A mrps mp99 mbytes
for round in 1 2 3; do
  for row in "${rows[@]}"; do
    read -r img fm loopfm <<<"$row"
    read -r r p b < <("$work/loop" -src "$work/root/$img" -format "$loopfm" -widths 150:450 -qualities 70:90 -concurrency 4 -duration "${MISS_SECONDS}s" -json |
      awk -F'[:,}]' '{for (i = 1; i < NF; i++) {if ($i ~ /ops_per_sec/) r = $(i+1); if ($i ~ /p99_ms/) p = $(i+1); if ($i ~ /mean_bytes/) b = $(i+1)}} END {print r, p, int(b)}')
    mrps[$img/loop]+="$r " mp99[$img/loop]+="$p " mbytes[$img/loop]+="$b "
    echo "round $round $img loop: $r ops/s, p99 $p ms, mean $b bytes"
    for wl in srcset sources; do
      sed "s/photo-1600x1200-q85.jpg/$img/; s/formats: \[webp\]/formats: [$fm]/" "bench/workloads/$wl.yaml" >"$work/$wl.yaml"
      if [ "$wl" = srcset ]; then
        start_edge
        curl -fs -o /dev/null "http://127.0.0.1:8080/$img" # the source, once
      else
        # An HTTP origin answering every path with the image's bytes: each
        # request's c<i>-<image> is a source the edge has never seen.
        "$work/bench" serve-bytes -file "$work/root/$img" -addr 127.0.0.1:8098 2>/dev/null &
        origin_pid=$!
        pids+=("$origin_pid")
        start_edge IMGEDGE_ORIGIN=http://127.0.0.1:8098
      fi
      "$work/bench" -workload "$work/$wl.yaml" -concurrency 4 -duration "${MISS_SECONDS}s" -quiet -json >"$work/$wl.json"
      read -r r p e m b < <(awk -F'[:,}]' '{for (i = 1; i < NF; i++) {if ($i ~ /"rps"/) r = $(i+1); if ($i ~ /"p99"/) p = $(i+1);
        if ($i ~ /"errors"/) e = $(i+1); if ($i ~ /"miss"/) m = $(i+1); if ($i ~ /"bytes"/) b = $(i+1); if ($i ~ /"requests"/) n = $(i+1)}}
        END {print r, p, e, m, int(b / n)}' "$work/$wl.json")
      stop_edge
      if [ "$wl" = sources ]; then kill "$origin_pid" 2>/dev/null || true; wait "$origin_pid" 2>/dev/null || true; fi
      mrps[$img/$wl]+="$r " mp99[$img/$wl]+="$p " mbytes[$img/$wl]+="$b "
      echo "round $round $img imgedge $wl: $r variants/s, p99 $p ms, mean $b bytes ($e errors, $m misses)"
      [ "$e" = 0 ] && grep -q '"hit"' "$work/$wl.json" && echo "   (the workload repeated a variant: its hits count above; give it more variants)"
    done
  done
done
printf "%-30s %-8s %10s %10s %6s %-18s %-16s %s\n" source workload "imgedge/s" "loop/s" ratio "" "p99 ms edge;loop" "mean bytes edge;loop"
for row in "${rows[@]}"; do
  read -r img fm loopfm <<<"$row"
  floor=$(median ${mrps[$img/loop]})
  for wl in srcset sources; do
    target=1.30; [ "$wl" = sources ] && target=1.05
    r=$(median ${mrps[$img/$wl]})
    printf "%-30s %-8s %10.1f %10.1f %6s %-18s %-16s %s\n" "$img->$fm" "$wl" "$r" "$floor" "$(ratio "$r" "$floor")" "(target >= $target)" \
      "$(median ${mp99[$img/$wl]});$(median ${mp99[$img/loop]})" "$(median ${mbytes[$img/$wl]});$(median ${mbytes[$img/loop]})"
  done
done

fi
if $bytesonly || ! { $memonly || $hitsonly || $floodonly; }; then
go build -o "$work/loop" ./bench/loop
echo
echo "== output bytes: the first 301 variants of the walk (widths 150..450 at q70), imgedge against the loop"
start_edge
rows=("photo-1600x1200-q85.jpg webp webp" "camera-4000x3000-q90.jpg jpg jpeg")
for row in "${rows[@]}"; do
  read -r img fm loopfm <<<"$row"
  edge_bytes=0
  for w in $(seq 150 450); do
    b=$(curl -fs -o /dev/null -w '%{size_download}' "http://127.0.0.1:8080/$img?w=$w&q=70&fm=$fm")
    edge_bytes=$((edge_bytes + b))
  done
  loop_bytes=$("$work/loop" -src "$work/root/$img" -format "$loopfm" -widths 150:450 -qualities 70:90 -concurrency 1 -count 301 -json |
    awk -F'[:,}]' '{for (i = 1; i < NF; i++) if ($i ~ /mean_bytes/) print int($(i+1) * 301)}')
  echo "$img -> $fm: imgedge $edge_bytes bytes, bare govips loop $loop_bytes bytes ($(ratio "$edge_bytes" "$loop_bytes")x; target <= 1.00)"
done
stop_edge
fi
$quick || $missonly || $bytesonly && exit 0
echo
flood=${FLOOD_SECONDS:-60}
echo "== memory: ${flood} s 32-connection miss flood on the 4000x3000 JPEG, per allocator"
jemalloc=$(ls /usr/lib/*/libjemalloc.so.2 2>/dev/null | head -1 || true)
for alloc in default arena2 jemalloc; do
  case $alloc in
    default) extra=() ;;
    arena2) extra=(MALLOC_ARENA_MAX=2) ;;
    jemalloc) [ -n "$jemalloc" ] || { echo "jemalloc: not installed (apt-get install -y libjemalloc2)"; continue; }
      extra=(LD_PRELOAD="$jemalloc") ;;
  esac
  start_edge "${extra[@]}"
  rss() { awk '/VmRSS/ {print int($2/1024)}' "/proc/$edge_pid/status"; }
  before=$(rss)
  # A miss flood: 201 widths x 70 qualities = 14,070 variants before any repeat.
  sed 's/photo-1600x1200-q85.jpg/camera-4000x3000-q90.jpg/; s/^unique_widths:.*/unique_widths: [200, 400]/; s/^unique_qualities:.*/unique_qualities: [30, 99]/' \
    bench/workloads/cold.yaml >"$work/flood.yaml"
  "$work/bench" -workload "$work/flood.yaml" -concurrency 32 -duration "${flood}s" -quiet >"$work/flood.txt" &
  flooder=$!
  peak=0
  while kill -0 "$flooder" 2>/dev/null; do r=$(rss); [ "$r" -gt "$peak" ] && peak=$r; sleep 1; done
  sleep 20
  after=$(rss)
  cached=$(curl -fs http://127.0.0.1:9090/metrics | awk '/^imgedge_cache_bytes/ {b+=$2} END {print int(b/1048576)}')
  heap=$(curl -fs http://127.0.0.1:9090/metrics | awk '/^go_memstats_heap_inuse_bytes/ {print int($2/1048576)}')
  printf "%-9s RSS start %4d MB, peak %4d MB, 20 s after %4d MB (of which cache %d MB, Go heap in use %d MB; limit: budgets 384 MB + 300 MB); %s\n" \
    "$alloc" "$before" "$peak" "$after" "$cached" "$heap" "$(awk '/^requests/ {print $2, "requests"} /^cache/ {print}' "$work/flood.txt" | tr '\n' ' ')"
  stop_edge
done

#!/bin/sh
# Runs the hostile requests of issue 11 against a fresh edge on its default
# config (except the origin folder, built here) and reports statuses,
# latencies, small requests meanwhile and the edge's peak RSS:
#   bench/hostile/run.sh [duration] [requests file]
set -eu
cd "$(dirname "$0")/../.."
dir=$(mktemp -d)
trap 'kill $edge 2>/dev/null; rm -rf "$dir"' EXIT
cp bench/images/kodim23.png "$dir/kodim23.png"
cp bench/images/camera-4000x3000-q90.jpg "$dir/camera.jpg"
cp testdata/corpus/formats/gif-animated-rotating-squares.gif "$dir/squares.gif"
cp bench/hostile/svg-embedded-bomb.svg bench/hostile/trim-8192x1000.png "$dir/"
cp -r testdata/corpus/hostile "$dir/hostile"
go build -o "$dir/imgedge" .
IMGEDGE_ORIGIN="file:$dir" IMGEDGE_LISTEN=127.0.0.1:18080 IMGEDGE_ADMIN_LISTEN=127.0.0.1:19090 "$dir/imgedge" 2>"$dir/log" &
edge=$!
until curl -sf http://127.0.0.1:19090/readyz >/dev/null; do sleep 0.1; done
go run ./bench hostile -url http://127.0.0.1:18080 -admin http://127.0.0.1:19090 -duration "${1:-20s}" \
	-requests "${2:-bench/hostile/requests.txt}" -parallel "${3:-8}"

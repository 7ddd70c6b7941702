#!/usr/bin/env bash
# A/B of two adapter binaries on the hot (cached) path, alternating so that drift in the
# machine's load falls on both alike: the same mock provider and the same wrk load as
# ../shared/bench/ea-compare/run.sh, whose work directory (mock provider, wrk script) this
# reuses — run that script once first.
# Usage: ab.sh BINARY_A BINARY_B     Env: ROUNDS (5), DURATION (s, 10), LEVEL (LOG_LEVEL, error)
# Prints one line per measurement: round, binary, requests/s, p99.
set -euo pipefail
work=${KEEP_DIR:-/tmp/ea-compare}; ROUNDS=${ROUNDS:-5}; DURATION=${DURATION:-10}
[ -f "$work/peer/mock-upstream.js" ] && [ -f "$work/hot.lua" ] || {
  echo "run ../shared/bench/ea-compare/run.sh once first (it prepares $work)" >&2; exit 2; }
[ $# -eq 2 ] || { echo "usage: ab.sh BINARY_A BINARY_B" >&2; exit 2; }
export API_URL="http://127.0.0.1:18090" API_KEY="bench-key"
MOCK_PORT=18090 node "$work/peer/mock-upstream.js" >/dev/null 2>&1 & mock=$!
trap 'kill $mock 2>/dev/null || true' EXIT
body='{"id":"278c97ffadb54a5bbb93cfec5f7b5503","data":{"coin":"ETH","market":"USD"}}'
for round in $(seq 1 "$ROUNDS"); do
  for bin in "$@"; do
    EA_HOST=127.0.0.1 EA_PORT=18092 METRICS_ENABLED=false LOG_LEVEL="${LEVEL:-error}" "$bin" >/dev/null 2>&1 & pid=$!
    for _ in $(seq 1 100); do
      curl -s -m 2 -X POST http://127.0.0.1:18092/ -H 'content-type: application/json' -d "$body" >/dev/null 2>&1 && break
      sleep 0.1
    done
    wrk -t1 -c64 -d"${DURATION}s" --latency -s "$work/hot.lua" http://127.0.0.1:18092/ > "$work/ab-wrk.txt" 2>&1
    awk -v b="$(basename "$bin")" -v r="$round" '/Requests\/sec/ {rps=$2} /^ +99%/ {p99=$2} END {print r, b, rps, p99}' "$work/ab-wrk.txt"
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
done

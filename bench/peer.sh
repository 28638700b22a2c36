#!/usr/bin/env bash
# This checkout side by side with Node 20 + socket.io 4.8 and stock python-socketio: `../shared/bench-peer`
# (or $BENCH_PEER), copied to a scratch directory with its npm packages, run against this checkout's .venv.
# Postgres on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 must be up. Every variable of run_peer.sh passes
# through:
#
#   bench/peer.sh                                     # 3 interleaved rounds, every scenario (about 20-40 minutes)
#   SMOKE=1 NO_WAIT=1 ROUNDS=1 bench/peer.sh          # a small version of everything, about 3 minutes
#   SERVERS="node-sio project" SCENARIOS="fanout idle" ROUNDS=1 NO_WAIT=1 bench/peer.sh
set -euo pipefail
project=$(cd "$(dirname "$0")/.." && pwd)
peer=${BENCH_PEER:-$project/../shared/bench-peer}
[ -x "$peer/run_peer.sh" ] || { echo "no bench-peer at $peer (set BENCH_PEER)" >&2; exit 1; }
[ -x "$project/.venv/bin/python" ] || { echo "no .venv in $project: python3 -m venv .venv && .venv/bin/pip install -r requirements.txt" >&2; exit 1; }
work=$(mktemp -d)/bench-peer
cp -r "$peer" "$work"
(cd "$work" && npm ci --silent --no-audit --no-fund)
PROJECT_DIR=$project "$work/run_peer.sh"
echo "results (summary .md and raw .jsonl): $work/results"

#!/usr/bin/env bash
# Runs N data-parallel ranks of a program on this machine: PROGRAM ARGS... --rank R --world-size N --store FILE for
# R = 0..N-1, the ranks meeting at a c10d FileStore in a fresh temporary folder. Waits for every rank; when one
# fails, stops the others (which would wait in their next collective) and exits with its status.
# Usage: bash scripts/run-ranks.sh N PROGRAM [ARGS...]
set -euo pipefail
if [ $# -lt 2 ] || ! [[ $1 =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: run-ranks.sh N PROGRAM [ARGS...] (N >= 1)" >&2
  exit 2
fi
n=$1
shift
dir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
for ((r = 0; r < n; ++r)); do
  "$@" --rank "$r" --world-size "$n" --store "$dir/store" &
  pids+=("$!")
done
status=0
for ((left = n; left > 0; --left)); do
  rc=0
  wait -n -p finished "${pids[@]}" || rc=$?
  if ((rc != 0 && status == 0)); then
    status=$rc
    echo "run-ranks: a rank (pid $finished) exited with $rc; stopping the others" >&2
    for p in "${pids[@]}"; do [ "$p" = "$finished" ] || kill "$p" 2>/dev/null || true; done
  fi
  remaining=()
  for p in "${pids[@]}"; do [ "$p" = "$finished" ] || remaining+=("$p"); done
  pids=("${remaining[@]}")
done
exit "$status"

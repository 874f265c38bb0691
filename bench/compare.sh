#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Compares one benchmark program across commits on a noisy machine: builds it at each commit (Release, as
# bench/run.sh does, in a git worktree), then runs the binaries in turn for several rounds, every run with its
# repetitions interleaved, and prints the fastest time of each benchmark per commit. Contention only adds time, and
# alternating the commits makes each one see the same spells of the machine.
#
# usage: bench/compare.sh [-r rounds] [-f filter] [-t target] <commit>...
#   defaults: 4 rounds, filter 'policy_loss/.*1024', target mmrag_rft.bench.losses.policy_loss
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rounds=4 filter='policy_loss/.*1024' target=mmrag_rft.bench.losses.policy_loss
while getopts r:f:t: o; do
  case $o in r) rounds=$OPTARG ;; f) filter=$OPTARG ;; t) target=$OPTARG ;; *) exit 2 ;; esac
done
shift $((OPTIND - 1))
(($# > 0)) || { echo "usage: bench/compare.sh [-r rounds] [-f filter] [-t target] <commit>..." >&2; exit 2; }
work=$(mktemp -d)
trap 'for d in "$work"/src-*; do git -C "$root" worktree remove --force "$d" 2>/dev/null || true; done; rm -rf "$work"' EXIT
bins=()
for c in "$@"; do
  src=$work/src-$c
  git -C "$root" worktree add --detach -q "$src" "$c"
  cmake -S "$src" -B "$src/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMMRAG_RFT_BUILD_BENCHMARKS=ON \
    -DMMRAG_RFT_BUILD_TESTS=OFF -DMMRAG_RFT_BUILD_EXAMPLES=OFF -DMMRAG_RFT_CUDA=OFF >/dev/null
  cmake --build "$src/build" --target "$target" >/dev/null
  bins+=("$(find "$src/build/bench" -type f -name "$target" | head -1)")
done
for ((r = 0; r < rounds; ++r)); do
  for i in "${!bins[@]}"; do
    "${bins[$i]}" --benchmark_filter="$filter" --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true \
      --benchmark_format=csv 2>/dev/null | grep '^"' | grep -v -E '_(mean|median|stddev|cv)"' |
      awk -F, -v name="$((i + 1))" '{print name, $1, $3, $5}'
  done
done | awk -v commits="$*" 'BEGIN { split(commits, cs, " ") }
  { k = cs[$1] " " $2; gsub(/"/, "", k); if (!(k in best) || $3 < best[k]) best[k] = $3; unit[k] = $4 }
  END { for (k in best) printf "%-12s %-62s %10.4g %s\n", substr(k, 1, index(k, " ") - 1), substr(k, index(k, " ") + 1), best[k], unit[k] }' |
  sort -k2,2 -k1,1

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the benchmarks (Release, the bench preset's settings), runs the C++ benchmarks and the PyTorch references on
# the same inputs, and prints the ratio tables of docs/performance.md.
#
# usage: bench/run.sh [build-dir]          (default build/bench; results in <build-dir>/results/)
# env:   MMRAG_RFT_BENCH_NATIVE=1          compile with -march=native
#        MMRAG_RFT_BENCH_REPS=5            repetitions of each C++ benchmark (the fastest is reported: the machine
#                                          is shared, and contention only ever adds time). Repetitions of all the
#                                          benchmarks of a program are interleaved in random order, so that a
#                                          kernel and its floor see the same spells of a noisy machine (seen here:
#                                          one benchmark 1.4x slower from one repetition to the next)
#        PYTHON=/usr/bin/python3           a Python with torch (Debian's python3-torch)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(realpath -m "${1:-$root/build/bench}")
results=$build/results
python=${PYTHON:-/usr/bin/python3}
reps=${MMRAG_RFT_BENCH_REPS:-5}
flags=""
[[ "${MMRAG_RFT_BENCH_NATIVE:-0}" == 1 ]] && flags="-march=native"

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMMRAG_RFT_BUILD_BENCHMARKS=ON \
  -DMMRAG_RFT_BUILD_TESTS=OFF -DMMRAG_RFT_BUILD_EXAMPLES=OFF -DMMRAG_RFT_CUDA=OFF -DCMAKE_CXX_FLAGS="$flags" >/dev/null
cmake --build "$build" --target mmrag_rft.bench.advantages.grpo mmrag_rft.bench.advantages.rloo \
  mmrag_rft.bench.losses.policy_loss \
  mmrag_rft.bench.losses.policy_loss_prototype mmrag_rft.bench.logits
mkdir -p "$results"

echo "== machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; CXXFLAGS='$flags'; load: $(cut -d' ' -f1-3 /proc/loadavg)"
for prog in advantages/mmrag_rft.bench.advantages.grpo advantages/mmrag_rft.bench.advantages.rloo \
  losses/mmrag_rft.bench.losses.policy_loss \
  losses/mmrag_rft.bench.losses.policy_loss_prototype logits/mmrag_rft.bench.logits; do
  name=$(basename "$prog" | sed 's/^mmrag_rft\.bench\.//')
  "$build/bench/$prog" --benchmark_repetitions="$reps" --benchmark_enable_random_interleaving=true \
    --benchmark_display_aggregates_only=true \
    --benchmark_out="$results/$name.json" --benchmark_out_format=json
done

# The LibTorch adapter against LibTorch's eager ops, in C++ (only where LibTorch is installed; its own table).
if cmake --build "$build" --target mmrag_rft.bench.torch >/dev/null 2>&1; then
  "$build/bench/torch/mmrag_rft.bench.torch" --benchmark_repetitions="$reps" --benchmark_enable_random_interleaving=true \
    --benchmark_display_aggregates_only=true \
    --benchmark_out="$results/torch_adapter.json" --benchmark_out_format=json
fi

cd "$root/bench/reference"
"$python" policy_loss.py --threads 2 | tee "$results/torch_policy_loss.jsonl"
"$python" grpo.py --threads 2 | tee "$results/torch_grpo.jsonl"
for dtype in float32 bfloat16; do
  "$python" ../logits/token_logprobs_reference.py --threads 2 --rows 1024 --dtype "$dtype" --json
done | tee "$results/torch_logits.jsonl"
"$python" report.py --cpp "$results"/advantages.grpo.json "$results"/advantages.rloo.json \
  "$results"/losses.policy_loss.json \
  "$results"/losses.policy_loss_prototype.json "$results"/logits.json \
  --torch "$results/torch_policy_loss.jsonl" "$results/torch_grpo.jsonl" "$results/torch_logits.jsonl" \
  | tee "$results/report.md"

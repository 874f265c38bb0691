#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Every GPU check in one call on a machine with a GPU (docs/performance.md): the CUDA tests, the same
# tests under compute-sanitizer (memcheck, racecheck, synccheck), the CUDA benchmarks, the PyTorch references on the
# same GPU, and the report that puts them side by side. Needs gpu-bundle/ (scripts/gpu-bundle.sh, built here) and
# the machine's python3 with a CUDA PyTorch. Writes 8 files under $OUT (default /tmp/gpu-check).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
bundle=$PWD/gpu-bundle
export LD_LIBRARY_PATH=$bundle/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export PYTHONUNBUFFERED=1
python=${PYTHON:-python3}

# step NAME FILE LIMIT CMD...: runs CMD with a time limit, appends its output to $OUT/FILE, prints a summary line.
step() {
  local name=$1 file=$2 limit=$3
  shift 3
  local t0=$SECONDS
  echo "=== $name: $*" >> "$OUT/$file"
  timeout "$limit" "$@" >> "$OUT/$file" 2>&1
  local rc=$?
  printf '%-12s rc=%-3s %4ss\n' "$name" "$rc" "$((SECONDS - t0))" | tee -a "$OUT/summary.txt"
}

{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv
  nvidia-smi
  echo "bundle built at:"
  cat "$bundle/commit"
  echo "working tree: $(git rev-parse HEAD 2>/dev/null || echo unknown)"
  $python -c 'import torch; print("torch", torch.__version__, torch.cuda.get_device_name(0))'
} > "$OUT/device.txt" 2>&1
head -2 "$OUT/device.txt"

step tests tests.txt 300 "$bundle/mmrag_rft.cuda.tests"
step gpu_step tests.txt 60 "$bundle/gpu_step"
step gpu_step_big tests.txt 120 "$bundle/gpu_step" 8 16 128 32768
step memcheck sanitizer.txt 300 compute-sanitizer --tool memcheck --leak-check full --error-exitcode 9 \
  "$bundle/mmrag_rft.cuda.tests"
step racecheck sanitizer.txt 240 compute-sanitizer --tool racecheck --error-exitcode 9 \
  "$bundle/mmrag_rft.cuda.tests" --test-case='*match*,*grid-stride*'
step synccheck sanitizer.txt 240 compute-sanitizer --tool synccheck --error-exitcode 9 \
  "$bundle/mmrag_rft.cuda.tests" --test-case='*match*'
step bench bench.txt 300 "$bundle/mmrag_rft.bench.cuda" --benchmark_repetitions=5 \
  --benchmark_report_aggregates_only=true --benchmark_out="$OUT/bench_cuda.json" --benchmark_out_format=json
step torch_loss torch.txt 240 bash -c "cd bench/reference && $python policy_loss.py --device cuda --shapes 4096x4096"
step torch_grpo torch.txt 240 bash -c "cd bench/reference && $python grpo.py --device cuda --loop-completions 8192"
for dtype in bfloat16 float32; do
  step "torch_$dtype" torch.txt 240 $python bench/logits/token_logprobs_reference.py --device cuda --rows 16384 \
    --dtype "$dtype" --repeats 5 --json
done
$python bench/reference/gpu_report.py "$OUT/bench_cuda.json" "$OUT/torch.txt" > "$OUT/report.md" 2>&1
cat "$OUT/report.md"
echo
grep -E "test cases|assertions|Status" "$OUT/tests.txt"
grep -E "ERROR SUMMARY|RACECHECK SUMMARY|error" "$OUT/sanitizer.txt" | head -20
cat "$OUT/summary.txt"

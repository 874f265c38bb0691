#!/usr/bin/env bash
# The README's test command: installs what is missing, then builds and runs the whole suite twice — optimised, and
# under ASan + UBSan — including the package-consumer tests and the fuzz-corpus replays; then, where nvcc is
# installed, compiles the CUDA code for sm_80 and sm_90 (nothing CUDA runs without a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
bash scripts/install-deps.sh
cmake --workflow --preset ci
cmake --workflow --preset sanitize
if [ -x /usr/local/cuda/bin/nvcc ]; then
  # The CUDA tests, the CUDA benchmark and the gpu_step example (what scripts/gpu-bundle.sh packs for a GPU
  # machine), nothing else.
  cmake --preset cuda -DMMRAG_RFT_BUILD_BENCHMARKS=ON
  cmake --build build/cuda --target mmrag_rft.cuda.tests mmrag_rft.bench.cuda gpu_step
  echo "mmrag_rft: CUDA sources compiled for sm_80 and sm_90"
else
  echo "mmrag_rft: no nvcc at /usr/local/cuda/bin/nvcc, CUDA compile check skipped"
fi
echo "mmrag_rft: all checks passed in $((SECONDS - start)) s"

#!/usr/bin/env bash
# The README's test command: installs what is missing, checks the formatting (scripts/check-format.sh), then builds and runs the whole suite twice — optimised, and
# under ASan + UBSan — including the package-consumer tests and the fuzz-corpus replays; then, where nvcc is
# installed, compiles the CUDA code for sm_80 and sm_90 (nothing CUDA runs without a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
bash scripts/install-deps.sh
bash scripts/check-format.sh
cmake --workflow --preset ci
cmake --workflow --preset sanitize
if [ -x /usr/local/cuda/bin/nvcc ]; then
  # The CUDA tests and the gpu_step example: every kernel and the CUDA backend for sm_80 and sm_90. The CUDA
  # benchmark is compiled where it is packed for a GPU machine (scripts/gpu-bundle.sh).
  cmake --preset cuda
  cmake --build build/cuda --target mmrag_rft.cuda.tests gpu_step
  echo "mmrag_rft: CUDA sources compiled for sm_80 and sm_90"
else
  echo "mmrag_rft: no nvcc at /usr/local/cuda/bin/nvcc, CUDA compile check skipped"
fi
echo "mmrag_rft: all checks passed in $((SECONDS - start)) s"

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Configures and compiles mmrag_rft::torch_cuda (the LibTorch adapter's CUDA path) and its tests against the
# CUDA-enabled LibTorch of a PyTorch wheel; on a machine with a GPU also runs them. Not part of scripts/test.sh
# (a CUDA LibTorch is a large download and its headers compile slowly).
#
#   scripts/check-torch-cuda.sh [build-dir]
#
# TORCH_VENV: a Python environment with a CUDA build of torch (default /tmp/torchcu130). Made when missing with
#   `pip install --no-deps torch==2.11.0` (the wheel built with CUDA 13.0, the toolkit's nvcc; --no-deps: the
#   headers and libraries come from the wheel and the CUDA toolkit, the nvidia-* runtime wheels are not needed to
#   compile). On a GPU machine without a matching CUDA 13 toolkit, install torch with its dependencies instead.
# CUDA_HOME: the CUDA toolkit (default /usr/local/cuda). CUDA_ARCHS: default 90.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/torch-cuda}
venv=${TORCH_VENV:-/tmp/torchcu130}
cuda=${CUDA_HOME:-/usr/local/cuda}
# Found by path: without its Python dependencies (--no-deps) the wheel's torch does not import.
torch_dir=$(ls -d "$venv"/lib/python3*/site-packages/torch/share/cmake/Torch 2>/dev/null | head -1 || true)
if [[ -z "$torch_dir" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --no-deps 'torch==2.11.0'
  torch_dir=$(ls -d "$venv"/lib/python3*/site-packages/torch/share/cmake/Torch | head -1)
fi
echo "check-torch-cuda: torch at $torch_dir; nvcc: $("$cuda/bin/nvcc" --version | tail -1)"
start=$(date +%s)
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CUDA_COMPILER="$cuda/bin/nvcc" -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHS:-90}" -DCUDAToolkit_ROOT="$cuda" \
  -DMMRAG_RFT_CUDA=ON -DMMRAG_RFT_TORCH_CUDA=ON -DTorch_DIR="$torch_dir" \
  -DMMRAG_RFT_TEST_PARTS=torch -DMMRAG_RFT_BUILD_EXAMPLES=OFF -DMMRAG_RFT_INSTALL=OFF \
  ${CMAKE_CXX_COMPILER_LAUNCHER:+-DCMAKE_CXX_COMPILER_LAUNCHER=$CMAKE_CXX_COMPILER_LAUNCHER}
cmake --build "$build" --target mmrag_rft_torch_cuda mmrag_rft.torch.cuda mmrag_rft.torch_device -j "${JOBS:-2}"
echo "check-torch-cuda: configured and compiled in $(( $(date +%s) - start )) s"
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  "$build/tests/torch/mmrag_rft.torch.cuda"
  "$build/tests/torch/mmrag_rft.torch_device"
else
  echo "check-torch-cuda: no GPU here; compiled only"
fi

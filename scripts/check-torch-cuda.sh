#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Configures and compiles mmrag_rft::torch_cuda (the LibTorch adapter's CUDA path) and its tests against the
# CUDA-enabled LibTorch of a PyTorch wheel; on a machine with a GPU also runs them. Not part of scripts/test.sh
# (a CUDA LibTorch is a large download and its headers compile slowly).
#
#   scripts/check-torch-cuda.sh [build-dir]
#
# TORCH_VENV: a Python environment with a CUDA build of torch (default /tmp/torchcu130). Made when missing with
#   `pip install --no-deps torch==2.11.0` (the wheel built with CUDA 13.0, the toolkit's nvcc) plus the three runtime
#   libraries libtorch_cuda.so needs that the CUDA toolkit lacks (cuSPARSELt, NVSHMEM, cuFile): the test programs
#   link and load against them. --no-deps: the rest comes from the toolkit, no Python dependency is needed. On a GPU
#   machine without a matching CUDA 13 toolkit, install torch with its dependencies instead.
# CUDA_HOME: the CUDA toolkit (default /usr/local/cuda). CUDA_ARCHS: default 90.
#
# Compiles mmrag_rft::torch_cuda and the tests of tests/torch (mmrag_rft.torch, mmrag_rft.torch_device,
# mmrag_rft.torch.cuda) and runs them through ctest: without a GPU the CUDA tests report as skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/torch-cuda}
venv=${TORCH_VENV:-/tmp/torchcu130}
cuda=${CUDA_HOME:-/usr/local/cuda}
runtime_libs=('nvidia-cusparselt-cu13==0.8.0' 'nvidia-nvshmem-cu13==3.4.5' 'nvidia-cufile')
# Found by path: without its Python dependencies (--no-deps) the wheel's torch does not import.
site=$(ls -d "$venv"/lib/python3*/site-packages 2>/dev/null | head -1 || true)
if [[ -z "$site" || ! -d "$site/torch/share/cmake/Torch" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --no-deps 'torch==2.11.0'
  site=$(ls -d "$venv"/lib/python3*/site-packages | head -1)
fi
if [[ ! -e "$site/nvidia/cusparselt/lib/libcusparseLt.so.0" || ! -e "$site/nvidia/nvshmem/lib/libnvshmem_host.so.3" ]] ||
  ! ls "$site"/nvidia/cu13/lib/libcufile.so.* >/dev/null 2>&1; then
  "$venv/bin/pip" install --no-deps "${runtime_libs[@]}"
fi
torch_dir="$site/torch/share/cmake/Torch"
# The linker resolves libtorch_cuda.so's own dependencies, and the test programs load them (ctest lists the test
# cases by running each program), through this path.
export LD_LIBRARY_PATH="$site/nvidia/cusparselt/lib:$site/nvidia/nvshmem/lib:$site/nvidia/cu13/lib:$cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# The wheel's Caffe2 config adds a -gencode per architecture of TORCH_CUDA_ARCH_LIST to CMAKE_CUDA_FLAGS (by default
# every architecture the wheel supports, sm_50 included, which nvcc 13 rejects): the same list as CUDA_ARCHS.
archs=${CUDA_ARCHS:-90}
TORCH_CUDA_ARCH_LIST=$(echo "$archs" | sed -E 's/([0-9]+)([0-9])/\1.\2/g')
export TORCH_CUDA_ARCH_LIST
echo "check-torch-cuda: torch at $torch_dir; nvcc: $("$cuda/bin/nvcc" --version | tail -1)"
start=$(date +%s)
# --fresh, the prefix path and Caffe2_DIR: the wheel's TorchConfig looks for its libraries and its Caffe2 config with
# find_library / find_package PATHS, which rank below the system directories, so a system LibTorch (Debian's
# libtorch-dev) would otherwise be found and linked instead of the wheel's, and stay in the cache.
cmake --fresh -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CUDA_COMPILER="$cuda/bin/nvcc" -DCMAKE_CUDA_ARCHITECTURES="$archs" -DCUDAToolkit_ROOT="$cuda" \
  -DMMRAG_RFT_CUDA=ON -DMMRAG_RFT_TORCH_CUDA=ON -DTorch_DIR="$torch_dir" -DCaffe2_DIR="$site/torch/share/cmake/Caffe2" \
  -DCMAKE_PREFIX_PATH="$site/torch" \
  -DMMRAG_RFT_TEST_PARTS=torch -DMMRAG_RFT_BUILD_EXAMPLES=OFF -DMMRAG_RFT_INSTALL=OFF \
  ${CMAKE_CXX_COMPILER_LAUNCHER:+-DCMAKE_CXX_COMPILER_LAUNCHER=$CMAKE_CXX_COMPILER_LAUNCHER}
cmake --build "$build" --target mmrag_rft_torch_cuda mmrag_rft.torch.cuda mmrag_rft.torch_device mmrag_rft.torch \
  -j "${JOBS:-2}"
echo "check-torch-cuda: configured, compiled and linked in $(( $(date +%s) - start )) s"
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  echo "check-torch-cuda: GPU: $(nvidia-smi -L | head -1)"
else
  echo "check-torch-cuda: no GPU here; the torch.cuda tests report as skipped"
fi
ctest --test-dir "$build" --output-on-failure -R '^torch' -j "${JOBS:-2}"
echo "check-torch-cuda: done in $(( $(date +%s) - start )) s"

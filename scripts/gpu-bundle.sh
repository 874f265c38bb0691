#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds, on a machine without a GPU, what scripts/gpu-check.sh runs on a machine with one, into gpu-bundle/ (git-ignored):
# the CUDA tests, benchmarks and the gpu_step example (nvcc, sm_80 + sm_90, CUDA runtime linked statically) and
# the one shared library they need that such a machine may lack (Debian's Google Benchmark), so the GPU machine needs
# only a driver (and a CUDA PyTorch for the references). Then copy the repository with gpu-bundle/ to it and run
#   OUT=/tmp/gpu-results bash scripts/gpu-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# The test command's CUDA step (scripts/test.sh) and the CUDA benchmark, so after a test run this builds only the benchmark.
cmake --preset cuda -DMMRAG_RFT_BUILD_BENCHMARKS=ON > /dev/null
cmake --build build/cuda --target mmrag_rft.cuda.tests mmrag_rft.bench.cuda gpu_step
rm -rf gpu-bundle
mkdir -p gpu-bundle/lib
cp build/cuda/tests/cuda/mmrag_rft.cuda.tests build/cuda/bench/cuda/mmrag_rft.bench.cuda \
  build/cuda/examples/gpu_step/gpu_step gpu-bundle/
for lib in $(ldd gpu-bundle/mmrag_rft.bench.cuda | awk '/libbenchmark/ {print $3}'); do cp -L "$lib" gpu-bundle/lib/; done
{ git rev-parse HEAD; git status --short | sed 's/^/  changed: /'; } > gpu-bundle/commit
du -sh gpu-bundle

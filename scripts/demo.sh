#!/usr/bin/env bash
# The README's main-job command (placeholder until the two-stage demo lands): installs what is missing, builds the
# examples and runs a few GRPO steps on synthetic rewards, printing what the library computed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build/demo -G Ninja -DCMAKE_BUILD_TYPE=Release -DMMRAG_RFT_BUILD_TESTS=OFF -DMMRAG_RFT_CUDA=OFF >/dev/null
cmake --build build/demo --target grpo_synthetic
./build/demo/examples/grpo_synthetic/grpo_synthetic "$@"

#!/usr/bin/env bash
# The README's test command: installs what is missing, then builds and runs the whole suite twice — optimised, and
# under ASan + UBSan — including the package-consumer tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --workflow --preset ci
cmake --workflow --preset sanitize

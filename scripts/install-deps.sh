#!/usr/bin/env bash
# Installs the Debian packages mmrag_rft's tests, examples and benchmarks use (only those still missing).
set -euo pipefail
pkgs=(cmake ninja-build g++ libeigen3-dev librange-v3-dev doctest-dev libbenchmark-dev nlohmann-json3-dev
      libcli11-dev libutf8proc-dev zlib1g-dev pkg-config libopenblas0-pthread libtorch-dev python3-torch clang libclang-rt-14-dev
      libopenmpi-dev openmpi-bin libgloo-dev chromium clang-format-19)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "mmrag_rft: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

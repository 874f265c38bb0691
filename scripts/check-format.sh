#!/usr/bin/env bash
# Lists the C++ and CUDA files that differ from clang-format's output (.clang-format, clang-format 19) and fails if
# there are any; it changes nothing. Usage: bash scripts/check-format.sh [files...] (default: every tracked file).
# To reformat a file: clang-format-19 -i FILE. Files listed in .clang-format-ignore are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
format=${CLANG_FORMAT:-$(command -v clang-format-19 || true)}
if [ -z "$format" ]; then
  echo "check-format: clang-format not found (Debian 12: apt-get install clang-format-19)" >&2
  exit 2
fi
if [ $# -gt 0 ]; then
  files=("$@")
else
  mapfile -t files < <(git ls-files '*.hpp' '*.cpp' '*.cuh' '*.cu' '*.h')
fi
differ=0
for f in "${files[@]}"; do
  if ! "$format" --style=file --dry-run --Werror "$f" >/dev/null 2>&1; then
    echo "$f"
    differ=$((differ + 1))
  fi
done
if [ "$differ" -gt 0 ]; then
  echo "check-format: $differ of ${#files[@]} files differ from $("$format" --version | head -1)" >&2
  exit 1
fi
echo "check-format: ${#files[@]} files match"

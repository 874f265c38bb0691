#!/usr/bin/env bash
# Rewrites every file of tests/parity/data from the frameworks' own code at the commits the parity suite pins:
# verl 1dda039b (data/verl_*.json, checked against policy_loss_options::verl() and the other current defaults),
# verl b178a3cd (data/verl_2026_01_*.json, checked against the verl_2026_01() presets) and TRL f2cd5771
# (data/trl_policy_loss.json). Each commit is exported from a git repository holding it (a clone or a bare mirror)
# with `git archive`, into a temporary directory removed afterwards.
#   Usage: bash tests/parity/regenerate.sh VERL_GIT_DIR TRL_GIT_DIR
# Needs Python 3 with PyTorch and NumPy (PYTHON, default python3); nothing is downloaded.
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: bash tests/parity/regenerate.sh VERL_GIT_DIR TRL_GIT_DIR" >&2
  exit 2
fi
verl_git=$1 trl_git=$2
here="$(cd "$(dirname "$0")" && pwd)"
python=${PYTHON:-python3}
verl_current=1dda039b9c6311889a9c9a26040677e1254814f9
verl_2026_01=b178a3cd56f58b2d502255daba591e92833930a7
trl_current=f2cd57710ae345ea6428ae95363267fcf38a3dc8
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export_commit() { # repository, commit, directory
  mkdir -p "$3"
  git -C "$1" archive "$2" | tar -x -C "$3"
}
export_commit "$verl_git" "$verl_current" "$tmp/verl"
export_commit "$verl_git" "$verl_2026_01" "$tmp/verl_2026_01"
export_commit "$trl_git" "$trl_current" "$tmp/trl"
"$python" "$here/generate.py" --verl "$tmp/verl" --verl-commit "$verl_current" --trl "$tmp/trl" \
  --trl-commit "$trl_current"
"$python" "$here/generate.py" --verl "$tmp/verl_2026_01" --verl-commit "$verl_2026_01" --preset verl_2026_01

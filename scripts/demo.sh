#!/usr/bin/env bash
# The README's main-job command: installs what is missing (apt-get, only when dpkg says so), builds the two-stage
# MMRAG-RFT demo (Release) and runs it in full: warm start, stage-1 GRPO, filtering, stage-2 GRPO, held-out evaluation
# before RL / after stage 1 / after stage 2, printed examples. Everything lands in one folder (default demo_out/):
# metrics.{jsonl,csv}, summary.json, reward_curves.png, checkpoints ckpt_*.pt. Extra arguments go to the demo,
# e.g. scripts/demo.sh --seed 2 --out demo_out/seed2, or --resume to continue from the checkpoints.
# --ranks N (default 1) trains data-parallel as N processes on this machine (scripts/run-ranks.sh: c10d Gloo over a
# FileStore); rank 0 writes the outputs.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/install-deps.sh
if ! dpkg-query -W -f='${Status}' python3-matplotlib 2>/dev/null | grep -q "install ok installed"; then
  echo "mmrag_rft: installing python3-matplotlib (for the reward plot)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-matplotlib >/dev/null
fi
out=demo_out
ranks=1
args=()
given_out=0
while (($#)); do
  case "$1" in
    --ranks)
      (($# >= 2)) || { echo "demo.sh: --ranks needs a number" >&2; exit 2; }
      ranks=$2
      shift 2
      continue
      ;;
    --out)
      if (($# >= 2)); then out=$2; given_out=1; fi
      ;;
  esac
  args+=("$1")
  shift
done
((given_out)) || args=(--out "$out" "${args[@]}")
cmake -S . -B build/demo -G Ninja -DCMAKE_BUILD_TYPE=Release -DMMRAG_RFT_BUILD_TESTS=OFF -DMMRAG_RFT_CUDA=OFF >/dev/null
cmake --build build/demo --target two_stage_demo
built=$(date +%s)
echo "mmrag_rft: build took $((built - start)) s"
demo=./build/demo/examples/two_stage_demo/two_stage_demo
if [ "$ranks" = 1 ]; then
  "$demo" "${args[@]}"
else
  bash scripts/run-ranks.sh "$ranks" "$demo" "${args[@]}"
fi
/usr/bin/python3 examples/two_stage_demo/plot.py "$out" || echo "mmrag_rft: plot skipped (python3-matplotlib missing)"
echo "mmrag_rft: demo run took $(($(date +%s) - built)) s (build included: $(($(date +%s) - start)) s); results in $out/"

#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Plots the reward curves of a two_stage_demo run: plot.py <out_dir> writes <out_dir>/reward_curves.png from
<out_dir>/metrics.jsonl (needs matplotlib: Debian's python3-matplotlib)."""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def smooth(v, w=5):
    out = []
    for i in range(len(v)):
        part = v[max(0, i - w + 1): i + 1]
        out.append(sum(part) / len(part))
    return out


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "demo_out"
    rows = [json.loads(line) for line in open(f"{out}/metrics.jsonl")]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    for ax, stage, keys in [(axes[0], "stage1", ["reward/mean", "reward/format/mean", "reward/relevance/mean"]),
                            (axes[1], "stage2", ["reward/mean", "reward/format/mean", "reward/ranking/mean",
                                                 "reward/answer/mean"])]:
        rs = [r for r in rows if r["stage"] in (stage, stage + "_replay")]  # stage-1 replay steps continue stage 1
        for k in keys:
            ys = [r.get(k) for r in rs]
            if rs and all(y is not None for y in ys):
                ax.plot([r["step"] for r in rs], smooth(ys), label=k.replace("reward/", "").replace("/mean", ""))
        ax.set_title(f"{stage} GRPO: training reward (5-step mean)")
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend()
    evals = [r for r in rows if r["stage"].startswith("eval/")]
    names = [r["stage"].split("/")[1] for r in evals]
    metrics = ["filter_precision", "filter_recall", "ndcg@3", "answer_em"]
    width = 0.8 / max(1, len(evals))
    for j, r in enumerate(evals):
        axes[2].bar([i + j * width for i in range(len(metrics))], [r.get(m) or 0 for m in metrics], width,
                    label=names[j])
    axes[2].set_xticks([i + 0.4 - width / 2 for i in range(len(metrics))])
    axes[2].set_xticklabels(metrics)
    axes[2].set_ylim(0, 1)
    axes[2].set_title("held-out evaluation")
    axes[2].legend()
    fig.tight_layout()
    fig.savefig(f"{out}/reward_curves.png", dpi=90)
    print(f"wrote {out}/reward_curves.png")


if __name__ == "__main__":
    main()

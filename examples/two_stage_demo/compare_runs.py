#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Compares two runs of the demo (e.g. 1 rank and 2 ranks, same seed): their held-out numbers (summary.json) and
their training records (metrics.jsonl, one record per step of each stage, the held-out evaluations).

Usage: compare_runs.py RUN_A RUN_B [--loss-rtol X] [--heldout-atol Y]

Fields that count or average the sampled completions (rewards, lengths, truncation, degenerate groups) must be equal
to the digit: the runs must draw the same completions. The loss terms (loss, pg_loss, kl, ppo_kl, entropy,
clip_fraction) may differ by the float sum order of the gradients: within --loss-rtol relative (of the larger of
the two magnitudes, floored at 1e-3). Held-out numbers within --heldout-atol. Prints the largest differences; exits
1 when a bound is broken, 2 when the runs do not have the same records."""
import argparse
import json
import sys

LOSS_FIELDS = {"loss", "pg_loss", "kl", "ppo_kl", "entropy", "clip_fraction"}
IGNORED = {"seconds"}


def records(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--loss-rtol", type=float, default=1e-4)
    ap.add_argument("--heldout-atol", type=float, default=0.0)
    o = ap.parse_args()
    ra, rb = records(o.a + "/metrics.jsonl"), records(o.b + "/metrics.jsonl")
    if len(ra) != len(rb):
        print(f"compare_runs: {len(ra)} records in {o.a}, {len(rb)} in {o.b}")
        return 2
    worst_loss, worst_heldout, bad = (0.0, ""), (0.0, ""), []
    for x, y in zip(ra, rb):
        where = f"{x.get('stage')} step {x.get('step')}"
        if x.keys() != y.keys() or x["stage"] != y["stage"] or x["step"] != y["step"]:
            print(f"compare_runs: records differ in kind at {where}")
            return 2
        for k, u in x.items():
            v = y[k]
            if k in IGNORED or isinstance(u, str) or u is None or v is None:
                if (u is None) != (v is None):
                    bad.append(f"{where} {k}: {u} vs {v}")
                continue
            if x["stage"].startswith("eval/"):
                d = abs(u - v)
                worst_heldout = max(worst_heldout, (d, f"{where} {k}"))
                if d > o.heldout_atol:
                    bad.append(f"{where} {k}: {u} vs {v}")
            elif k in LOSS_FIELDS:
                d = abs(u - v) / max(abs(u), abs(v), 1e-3)
                worst_loss = max(worst_loss, (d, f"{where} {k}"))
                if d > o.loss_rtol:
                    bad.append(f"{where} {k}: {u} vs {v} (relative {d:.2e})")
            elif u != v:
                bad.append(f"{where} {k}: {u} vs {v} (must be equal)")
    sa = json.load(open(o.a + "/summary.json"))
    sb = json.load(open(o.b + "/summary.json"))
    for stage in ("warm_start", "stage1", "stage2"):
        for k, u in sa[stage].items():
            d = abs(u - sb[stage][k])
            worst_heldout = max(worst_heldout, (d, f"summary {stage} {k}"))
            if d > o.heldout_atol:
                bad.append(f"summary {stage} {k}: {u} vs {sb[stage][k]}")
    print(f"compare_runs: {len(ra)} records; largest loss-term difference {worst_loss[0]:.2e} relative "
          f"({worst_loss[1] or 'none'}), largest held-out difference {worst_heldout[0]:.3f} ({worst_heldout[1] or 'none'})")
    for line in bad[:20]:
        print("  " + line)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

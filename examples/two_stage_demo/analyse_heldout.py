#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Per-category breakdown of a held-out evaluation of the two-stage demo (reads heldout_<stage>.jsonl).

For each WebQA category: answer exact match; how often the document that holds the answer (the gold image for the
image categories, the gold snippet for Others) reached stage 2; EM when it did; how often stage 2 then ranked it
first. It tells a filter that drops the evidence from a policy that has the evidence and cannot read it.
Usage: python3 analyse_heldout.py demo_out/seed1/heldout_warm_start.jsonl demo_out/seed1/heldout_stage2.jsonl
"""
import collections
import json
import re
import sys


def ranking(text, kept):
    m = re.search(r"<rank>\s*\[([^\]]*)\]", text)
    labels = [int(x) for x in m.group(1).split(",") if x.strip().isdigit()] if m else []
    return [kept[k - 1] for k in labels if 1 <= k <= len(kept)]


def main():
    for path in sys.argv[1:]:
        rows = [json.loads(line) for line in open(path)]
        by = collections.defaultdict(lambda: {"n": 0, "em": 0.0, "kept": 0, "em_kept": 0.0, "first": 0})
        for r in rows:
            c = by[r["category"]]
            want = "text" if r["category"] == "Others" else "image"
            evidence = next(i for i in r["gold"] if r["kinds"][i] == want)
            c["n"] += 1
            c["em"] += r["answer_em"]
            if evidence in r["kept"]:
                c["kept"] += 1
                c["em_kept"] += r["answer_em"]
                order = ranking(r["stage2"], r["kept"])
                c["first"] += bool(order) and order[0] == evidence
        print(path)
        print("  category   n    EM   evidence kept   EM | kept   ranked first | kept")
        total = {"n": 0, "em": 0.0, "kept": 0, "em_kept": 0.0, "first": 0}
        for name in ["color", "shape", "number", "YesNo", "choose", "Others"]:
            c = by.get(name)
            if not c:
                continue
            for k in total:
                total[k] += c[k]
            k = max(1, c["kept"])
            print(f"  {name:8s} {c['n']:3d} {c['em'] / c['n']:.3f}      {c['kept'] / c['n']:.3f}        "
                  f"{c['em_kept'] / k:.3f}        {c['first'] / k:.3f}")
        k = max(1, total["kept"])
        print(f"  {'all':8s} {total['n']:3d} {total['em'] / total['n']:.3f}      {total['kept'] / total['n']:.3f}        "
              f"{total['em_kept'] / k:.3f}        {total['first'] / k:.3f}")


if __name__ == "__main__":
    main()

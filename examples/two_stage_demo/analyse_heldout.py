#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Per-category breakdown of a held-out evaluation of the two-stage demo (reads heldout_<stage>.jsonl).

For each WebQA category: answer exact match; how often the document that holds the answer (the gold image for the
image categories, the gold snippet for Others) reached stage 2; EM when it did; how often stage 2 then ranked it
first; "read", how often the reasoning's description of that image ("[k] entity place : 2 red circle") names the
asked attribute right (colour, shape, count; colour for choose; not for YesNo, whose gold answer does not name it);
"fixed", the EM of the best single answer for the whole category (what a policy that answers by category and
does not read scores at most); and the policy's most frequent answers with their counts, which tell an answer that
varies with the image from one fixed answer per category. It tells a filter that drops the evidence from a policy
that has the evidence and cannot read it.
Usage: python3 analyse_heldout.py [--data data/demo/webqa_demo.json] demo_out/seed1/heldout_*.jsonl
"""
import collections
import json
import os
import re
import sys

CATEGORIES = ["color", "shape", "number", "YesNo", "choose", "Others"]


def ranking(text, kept):
    m = re.search(r"<rank>\s*\[([^\]]*)\]", text)
    labels = [int(x) for x in m.group(1).split(",") if x.strip().isdigit()] if m else []
    return [kept[k - 1] for k in labels if 1 <= k <= len(kept)]


def described(text, label, category):
    """The attribute the stage-2 reasoning gives for document `label` (1-based), or None."""
    m = re.search(r"\[%d\][^:;\]]*:\s*(\d) (\w+) (\w+)" % label, text)
    if not m:
        return None
    count, color, shape = m.groups()
    return {"color": color, "choose": color, "shape": shape, "number": count}.get(category)


def answer(text):
    m = re.search(r"<answer>(.*?)</answer>", text)
    return m.group(1).strip() if m else "(none)"


def main():
    args = sys.argv[1:]
    data = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "data", "demo", "webqa_demo.json")
    if len(args) >= 2 and args[0] == "--data":
        data, args = args[1], args[2:]
    gold = {k: [a.strip('"') for a in v["A"]] for k, v in json.load(open(data)).items()}
    for path in args:
        rows = [json.loads(line) for line in open(path)]
        by = collections.defaultdict(lambda: {"n": 0, "em": 0.0, "kept": 0, "em_kept": 0.0, "first": 0, "read": 0})
        said = collections.defaultdict(collections.Counter)
        truth = collections.defaultdict(collections.Counter)
        for r in rows:
            c = by[r["category"]]
            want = "text" if r["category"] == "Others" else "image"
            evidence = next(i for i in r["gold"] if r["kinds"][i] == want)
            c["n"] += 1
            c["em"] += r["answer_em"]
            said[r["category"]][answer(r["stage2"])] += 1
            truth[r["category"]][gold[r["id"]][0]] += 1
            if evidence in r["kept"]:
                c["kept"] += 1
                c["em_kept"] += r["answer_em"]
                order = ranking(r["stage2"], r["kept"])
                c["first"] += bool(order) and order[0] == evidence
                c["read"] += described(r["stage2"], r["kept"].index(evidence) + 1, r["category"]) == gold[r["id"]][0]
        print(path)
        print("  category   n    EM  fixed  evidence kept  EM | kept  ranked first | kept  read | kept  answers given")
        total = {"n": 0, "em": 0.0, "kept": 0, "em_kept": 0.0, "first": 0, "read": 0}
        fixed_total = 0
        for name in CATEGORIES:
            c = by.get(name)
            if not c:
                continue
            for k in total:
                total[k] += c[k]
            fixed = truth[name].most_common(1)[0][1]
            fixed_total += fixed
            k = max(1, c["kept"])
            top = " ".join(f"{a}:{n}" for a, n in said[name].most_common(4))
            print(f"  {name:8s} {c['n']:3d} {c['em'] / c['n']:.3f} {fixed / c['n']:.3f}     {c['kept'] / c['n']:.3f}"
                  f"       {c['em_kept'] / k:.3f}       {c['first'] / k:.3f}"
                  f"        {'  -  ' if name in ('YesNo', 'Others') else format(c['read'] / k, '.3f')}       {top}")
        k = max(1, total["kept"])
        print(f"  {'all':8s} {total['n']:3d} {total['em'] / total['n']:.3f} {fixed_total / total['n']:.3f}     "
              f"{total['kept'] / total['n']:.3f}       {total['em_kept'] / k:.3f}       {total['first'] / k:.3f}")


if __name__ == "__main__":
    main()

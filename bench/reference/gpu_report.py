#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The GPU report: bench/cuda's Google Benchmark JSON next to the PyTorch references run on the same GPU.

Usage: gpu_report.py BENCH_JSON TORCH_JSONL...  (scripts/gpu-check.sh writes them). Prints markdown: each kernel's
median time, the median time of a device-to-device copy moving the same bytes (its floor) and the ratio, and the
speedup over PyTorch eager; for the policy loss also the two losses (same inputs, so they must agree).
"""
import json
import sys

from report import load_torch


def to_ms(entry):
    scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[entry["time_unit"]]
    return entry["real_time"] * scale


def load_bench(path):
    with open(path) as f:
        data = json.load(f)
    rows = {}
    for e in data["benchmarks"]:
        if e.get("run_type") == "aggregate" and e.get("aggregate_name") != "median":
            continue
        name = e.get("run_name", e["name"])
        rows[name] = e
    return data.get("context", {}), rows


def main():
    context, bench = load_bench(sys.argv[1])
    torch_rows = load_torch(sys.argv[2:])
    floors = {int(e["bytes_moved"]): to_ms(e) for n, e in bench.items() if n.startswith("copy_floor/")}

    def floor_of(e):
        return floors.get(int(e["bytes_moved"]))

    print(f"Device run: {context.get('date', '?')}, host {context.get('host_name', '?')}\n")
    print("| kernel | median (ms) | copy of the same bytes (ms) | / floor | GB/s | PyTorch eager (ms) | speedup |")
    print("|---|---|---|---|---|---|---|")

    def row(label, e, torch_ms=None):
        ms, fl = to_ms(e), floor_of(e)
        gbs = e["bytes_moved"] / (ms * 1e-3) / 1e9
        floor, ratio = (f"{fl:.3f}", f"{ms / fl:.2f}") if fl else ("?", "?")
        t = f"{torch_ms:.3f}" if torch_ms else "-"
        sp = f"{torch_ms / ms:.1f}x" if torch_ms else "-"
        print(f"| {label} | {ms:.3f} | {floor} | {ratio} | {gbs:.0f} | {t} | {sp} |")

    tl = torch_rows.get("torch_policy_loss/B:4096/T:4096")
    for name, e in sorted(bench.items()):
        if name.startswith("policy_loss_verl/"):
            tok = "token_adv:1" in name
            given = "given_normalizer:1" in name
            grid = name.split("max_blocks:")[1].split("/")[0]
            resident = name.split("min_blocks:")[1].split("/")[0]
            label = (f"policy loss 16.8M, verl + k3, adv per {'token' if tok else 'sequence'}, "
                     f"{'normaliser given' if given else 'token count from the mask'}, grid <= {grid}, "
                     f"launch bounds for {resident} block(s) per SM")
            row(label, e, tl["median_s"] * 1e3 if tl and tok and not given else None)
    g = bench.get("grpo_1m/manual_time")
    if g:
        for ref in ("torch_reshape", "torch_scatter", "verl_loop"):
            t = torch_rows.get(f"{ref}/1048576/8")
            row(f"GRPO 1M, G = 8 (vs {ref})", g, t["median_s"] * 1e3 if t else None)
    for name, label in (("thrust_rloo_1m/manual_time", "RLOO 1M, G = 8, exec::thrust"),
                        ("thrust_token_scans/gae:0/manual_time", "REINFORCE++ 16.8M tokens, exec::thrust"),
                        ("thrust_token_scans/gae:1/manual_time", "GAE 16.8M tokens, exec::thrust")):
        if name in bench:
            row(label, bench[name])
    for dtype, ctype in (("bfloat16", "bfloat16"), ("float", "float32")):
        t = torch_rows.get(f"torch_token_logprobs/{ctype}/N:16384/V:152064")
        f = bench.get(f"logits_forward<{dtype}, true>/manual_time")
        b = bench.get(f"logits_backward<{dtype}, true>/manual_time")
        if f:
            row(f"token_logprobs_and_entropy 16k x 152k {dtype}, forward", f, t["forward_s"] * 1e3 if t else None)
        if b:
            row(f"... backward", b)
        if f and b and t:
            both = to_ms(f) + to_ms(b)
            print(f"| ... forward + backward | {both:.3f} | | | | {t['forward_backward_s'] * 1e3:.3f} | "
                  f"{t['forward_backward_s'] * 1e3 / both:.1f}x |")

    for kind in ("forward", "backward"):
        e = bench.get(f"logits_{kind}<bfloat16, false>/manual_time")
        if e:
            row(f"{kind}, bfloat16, one element per load (the kernel before 16-byte accesses)", e)

    print()
    for name, e in sorted(bench.items()):
        if name.startswith("policy_loss_verl/token_adv:1") and tl:
            rel = abs(e["loss"] - tl["loss"]) / max(abs(tl["loss"]), 1e-30)
            print(f"- {name}: loss {e['loss']:.9g} vs PyTorch {tl['loss']:.9g} (relative difference {rel:.2e}); "
                  f"pg_clipfrac {e['pg_clipfrac']:.6g} vs {tl['pg_clipfrac']:.6g}")


if __name__ == "__main__":
    main()

# SPDX-License-Identifier: Apache-2.0
"""Joins the Google Benchmark JSON of the C++ programs and the JSON lines of the PyTorch references into the ratio
tables of docs/performance.md (markdown on stdout).

usage: report.py --cpp grpo.json policy_loss.json --torch grpo.jsonl policy_loss.jsonl
"""
import argparse
import json

UNIT = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def load_cpp(paths):
    """name -> (seconds, bytes/s, entry) of the fastest repetition: the machine is shared, and other processes only
    ever add time, so the minimum is the estimate of the uncontended time."""
    out = {}
    for path in paths:
        with open(path) as f:
            doc = json.load(f)
        for b in doc["benchmarks"]:
            if b.get("run_type", "iteration") != "iteration":
                continue
            name = b["run_name"].removesuffix("/real_time")
            t = b["real_time"] * UNIT[b["time_unit"]]
            if name not in out or t < out[name][0]:
                out[name] = (t, b.get("bytes_per_second", 0.0), b)
    return out


def load_torch(paths):
    """name -> record of the JSON lines in the references' output (other lines, a reference's own text or a step's
    header, are skipped)."""
    out = {}
    for path in paths:
        with open(path) as f:
            for line in f:
                if line.lstrip().startswith("{"):
                    r = json.loads(line)
                    out[r["name"]] = r
    return out


def ms(s):
    return f"{s * 1e3:.3g}" if s < 10 else f"{s * 1e3:.0f}"


def loss_table(cpp, torch):
    print("Times: fastest C++ repetition, fastest PyTorch run (the machine is shared; contention only adds time).\n")
    print("### Fused policy loss + k3 KL + gradient (float32, token-mean, verl defaults)\n")
    print("| tokens (B x T) | advantages | copy floor seq / par (ms) | mmrag_rft seq / par (ms) | GB/s (best) "
          "| best / floor (same threads) | PyTorch 2 thr (ms) | PyTorch / mmrag_rft best | loss (C++ / torch) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n in (1024, 4096):
        for tok in (1, 0):
            key = f"B:{n}/T:{n}/token_adv:{tok}"
            f_s, f_p = cpp[f"policy_loss_floor/seq/{key}"][0], cpp[f"policy_loss_floor/par/{key}"][0]
            l_s, l_p = cpp[f"policy_loss/seq/{key}"], cpp[f"policy_loss/par/{key}"]
            best, floor = (l_s, f_s) if l_s[0] <= l_p[0] else (l_p, f_p)
            t = torch.get(f"torch_policy_loss/B:{n}/T:{n}")
            t_s = t["min_s"] if t else float("nan")
            loss = f"{best[2]['loss']:.6g} / {t['loss']:.6g}" if t else f"{best[2]['loss']:.6g} / -"
            print(f"| {n * n / 1e6:.3g}M ({n} x {n}) | {'per token [B,T]' if tok else 'per sequence [B]'} "
                  f"| {ms(f_s)} / {ms(f_p)} | {ms(l_s[0])} / {ms(l_p[0])} | {best[1] / 1e9:.2f} "
                  f"| {best[0] / floor:.1f}x | {ms(t_s)} | {t_s / best[0]:.1f}x | {loss} |")
    print()


def prototype_table(cpp, torch):
    if not any(k.startswith("policy_loss_prototype/") for k in cpp):
        return
    print("### The proposed restructuring (bench/losses/prototype.hpp), same inputs, same options\n")
    print("| tokens (B x T) | advantages | library, same flags, seq (ms) | prototype seq / par (ms) | prototype best / floor "
          "| PyTorch / prototype best | grad max diff vs library |")
    print("|---|---|---|---|---|---|---|")
    for n in (1024, 4096):
        for tok in (1, 0):
            key = f"B:{n}/T:{n}/token_adv:{tok}"
            same = cpp[f"policy_loss_same_flags/seq/{key}"][0]
            p_s, p_p = cpp[f"policy_loss_prototype/seq/{key}"], cpp[f"policy_loss_prototype/par/{key}"]
            f_s, f_p = cpp[f"policy_loss_floor/seq/{key}"][0], cpp[f"policy_loss_floor/par/{key}"][0]
            best, floor = (p_s, f_s) if p_s[0] <= p_p[0] else (p_p, f_p)
            t = torch.get(f"torch_policy_loss/B:{n}/T:{n}")
            t_s = t["min_s"] if t else float("nan")
            print(f"| {n * n / 1e6:.3g}M ({n} x {n}) | {'per token [B,T]' if tok else 'per sequence [B]'} | {ms(same)} "
                  f"| {ms(p_s[0])} / {ms(p_p[0])} | {best[0] / floor:.1f}x | {t_s / best[0]:.1f}x "
                  f"| {best[2]['grad_max_diff']:.3g} |")
    print()


def grpo_table(cpp, torch):
    print("### GRPO advantages, 1M completions, G = 8 (float32)\n")
    n, g = 1 << 20, 8
    rows = [("copy floor, seq", cpp.get(f"grpo_floor/seq/{n}/{g}")), ("copy floor, par", cpp.get(f"grpo_floor/par/{n}/{g}")),
            ("mmrag_rft, contiguous groups, seq", cpp.get(f"grpo/seq/{n}/{g}")),
            ("mmrag_rft, contiguous groups, par", cpp.get(f"grpo/par/{n}/{g}")),
            ("mmrag_rft, uid-keyed groups (grouping timed), seq", cpp.get(f"grpo_keyed/seq/{n}/{g}")),
            ("mmrag_rft, uid-keyed groups (grouping timed), par", cpp.get(f"grpo_keyed/par/{n}/{g}")),
            ("mmrag_rft RLOO, contiguous groups, seq", cpp.get(f"rloo/seq/{n}/{g}")),
            ("mmrag_rft RLOO, contiguous groups, par", cpp.get(f"rloo/par/{n}/{g}"))]
    best = min(r[1][0] for r in rows[2:4] if r[1])
    keyed = min((r[1][0] for r in rows[4:6] if r[1]), default=float("nan"))
    print("| formulation | time (ms) | vs mmrag_rft best contiguous | vs mmrag_rft best keyed |")
    print("|---|---|---|---|")
    for label, r in rows:
        if r:
            print(f"| {label} | {ms(r[0])} | {r[0] / best:.3g}x | {r[0] / keyed:.3g}x |")
    for key, label in (("torch_reshape", "PyTorch view(-1, G).mean/std (TRL), 2 thr"),
                       ("torch_scatter", "PyTorch unique + index_add_ (uid-keyed), 2 thr"),
                       ("verl_loop", "verl Python loop over groups (dict of lists)")):
        t = torch.get(f"{key}/{n}/{g}")
        if t:
            print(f"| {label} | {ms(t['min_s'])} | {t['min_s'] / best:.3g}x | {t['min_s'] / keyed:.3g}x |")
    print()


def logits_table(cpp, torch):
    if not any(k.startswith("forward/") for k in cpp):
        return
    print("### token_logprobs_and_entropy (+ backward), N = 1024 rows x V = 152,064\n")
    print("| kernel | time (ms) | floor (ms) | / floor | PyTorch 2 thr (ms) | PyTorch / mmrag_rft |")
    print("|---|---|---|---|---|---|")
    n, v = 1024, 152064
    t32 = torch.get(f"torch_token_logprobs/float32/N:{n}/V:{v}")
    t16 = torch.get(f"torch_token_logprobs/bfloat16/N:{n}/V:{v}")
    rows = [("forward, float, seq", "forward/seq", "floor_read/seq", None),
            ("forward, float, par", "forward/par", "floor_read/par", t32 and t32["forward_s"]),
            ("forward, bfloat16, seq", "forward_bf16/seq", None, None),
            ("forward, bfloat16, par", "forward_bf16/par", None, t16 and t16["forward_s"]),
            ("backward, float, seq", "backward/seq", "floor_copy/seq", None),
            ("backward, float, par", "backward/par", "floor_copy/par", None),
            ("forward, float, seq, baseline ISA", "forward/seq_baseline_isa", "floor_read/seq", None),
            ("backward, float, seq, baseline ISA", "backward/seq_baseline_isa", "floor_copy/seq", None)]
    for label, key, floor, t in rows:
        r = cpp.get(f"{key}/{n}")
        if not r:
            continue
        f = cpp.get(f"{floor}/{n}") if floor else None
        ratio = f"{r[0] / f[0]:.2f}x" if f else "-"
        print(f"| {label} | {ms(r[0])} | {ms(f[0]) if f else '-'} | {ratio} | {ms(t) if t else '-'} "
              f"| {f'{t / r[0]:.1f}x' if t else '-'} |")
    fw, bw = cpp.get(f"forward/par/{n}"), cpp.get(f"backward/par/{n}")
    if t32 and fw and bw:
        both = fw[0] + bw[0]
        print(f"| forward + backward, float, par | {ms(both)} | - | - | {ms(t32['forward_backward_s'])} "
              f"| {t32['forward_backward_s'] / both:.1f}x |")
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpp", nargs="+", required=True)
    ap.add_argument("--torch", nargs="+", required=True)
    args = ap.parse_args()
    cpp, torch = load_cpp(args.cpp), load_torch(args.torch)
    loss_table(cpp, torch)
    prototype_table(cpp, torch)
    grpo_table(cpp, torch)
    logits_table(cpp, torch)


if __name__ == "__main__":
    main()

# SPDX-License-Identifier: Apache-2.0
"""PyTorch references (CPU, or CUDA with --device cuda) of GRPO outcome advantages for 1M completions in groups of 8 (float32, same rewards as the
C++ benchmark, inputs.py), three ways:

- verl_loop: verl's compute_grpo_outcome_advantage (volcengine/verl, verl/trainer/ppo/core_algos.py) as it runs: a
  Python loop over completions into a dict of lists keyed by uid strings, torch.mean / torch.std per group, and a loop
  writing each advantage; a group of one gets mean 0, std 1; epsilon 1e-6.
- torch_scatter: vectorised over uid keys (torch.unique + index_add_ + gather), centred two-pass std, as a trainer
  with uid-keyed groups would vectorise it.
- torch_reshape: contiguous groups, view(-1, G).mean / .std (TRL's formulation), the fastest eager form.
The per-completion scores are given (verl first sums its token-level rewards; that step is not timed here).
Prints one JSON object per formulation.
"""
import argparse
import json
import statistics
import time
from collections import defaultdict

import numpy as np
import torch

import inputs

EPS = 1e-6


def verl_loop(scores, index):
    scores = scores.clone()
    id2score, id2mean, id2std = defaultdict(list), {}, {}
    with torch.no_grad():
        n = scores.shape[0]
        for i in range(n):
            id2score[index[i]].append(scores[i])
        for uid, members in id2score.items():
            if len(members) == 1:
                id2mean[uid], id2std[uid] = torch.tensor(0.0), torch.tensor(1.0)
            else:
                group = torch.tensor(members)
                id2mean[uid], id2std[uid] = torch.mean(group), torch.std(group)
        for i in range(n):
            scores[i] = (scores[i] - id2mean[index[i]]) / (id2std[index[i]] + EPS)
    return scores


def torch_scatter(scores, uid):
    keys, inverse = torch.unique(uid, return_inverse=True)
    groups = keys.numel()
    count = torch.bincount(inverse, minlength=groups).to(scores.dtype)
    mean = torch.zeros(groups, dtype=scores.dtype, device=scores.device).index_add_(0, inverse, scores) / count
    centred = scores - mean[inverse]
    m2 = torch.zeros(groups, dtype=scores.dtype, device=scores.device).index_add_(0, inverse, centred * centred)
    std = torch.sqrt(m2 / torch.clamp(count - 1, min=1))
    single = count == 1
    mean = torch.where(single, torch.zeros_like(mean), mean)
    std = torch.where(single, torch.ones_like(std), std)
    return (scores - mean[inverse]) / (std[inverse] + EPS)


def torch_reshape(scores, group_size):
    g = scores.view(-1, group_size)
    return ((g - g.mean(dim=1, keepdim=True)) / (g.std(dim=1, keepdim=True) + EPS)).view(-1)


def timed(fn, repeats, sync=lambda: None):
    times, out = [], None
    for r in range(repeats + 1):  # the first run is a warm-up
        sync()
        t0 = time.perf_counter()
        out = fn()
        sync()
        t1 = time.perf_counter()
        if r > 0 or repeats == 0:
            times.append(t1 - t0)
    return out, times


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--completions", type=int, default=1 << 20)
    ap.add_argument("--group-size", type=int, default=8)
    ap.add_argument("--loop-completions", type=int, default=0,
                    help="run verl's Python loop on this many completions and scale (0: all of them)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (verl's loop then indexes GPU tensors one by one)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    n, g = args.completions, args.group_size
    dev = args.device
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    rewards = torch.from_numpy(inputs.group_rewards(n, g)).to(dev)
    uid_int = torch.from_numpy((np.arange(n) // g).astype(np.int64)).to(dev)
    uid_str = np.array([f"{u:032x}" for u in range(n // g)], dtype=object)[np.arange(n) // g]  # verl's uuid strings

    reshape, t_reshape = timed(lambda: torch_reshape(rewards, g), 20, sync)
    scatter, t_scatter = timed(lambda: torch_scatter(rewards, uid_int), 10, sync)
    m = args.loop_completions or n
    loop, t_loop = timed(lambda: verl_loop(rewards[:m], uid_str[:m]), 0, sync)
    scale = n / m
    agree = float(max((scatter - reshape).abs().max(), (loop - reshape[:m]).abs().max()))
    common = {"completions": n, "group_size": g, "threads": torch.get_num_threads(), "device": dev}
    for name, t, s in (("torch_reshape", t_reshape, 1.0), ("torch_scatter", t_scatter, 1.0), ("verl_loop", t_loop, scale)):
        print(json.dumps({"name": f"{name}/{n}/{g}", **common, "repeats": len(t), "timed_completions": int(n / s),
                          "median_s": statistics.median(t) * s, "min_s": min(t) * s, "max_abs_diff": agree}), flush=True)


if __name__ == "__main__":
    main()

# SPDX-License-Identifier: Apache-2.0
"""PyTorch eager reference of the fused policy loss (CPU, or CUDA with --device cuda): verl's formulation, from its math.

verl (volcengine/verl, verl/trainer/ppo/core_algos.py): loss_mode "vanilla" (PPO clipped surrogate with dual clip,
clip_ratio 0.2, clip_ratio_c 3), KL loss "low_var_kl" (k3, with verl's clamps) times kl_loss_coef 0.001, both
aggregated "token-mean"; the metrics verl computes in the same call (ppo_kl, pg_clipfrac, pg_clipfrac_lower); then
autograd's backward for d loss / d log_prob. Advantages are a [B, T] tensor, as verl passes them. Same inputs as the
C++ benchmark (inputs.py). Prints one JSON object per shape.
"""
import argparse
import json
import statistics
import time

import numpy as np
import torch

import inputs


def masked_sum(values, mask):
    # verl neutralises NaN outside the mask before multiplying by it.
    return (torch.where(mask.bool(), values, torch.zeros_like(values)) * mask).sum()


def masked_mean(values, mask):
    return masked_sum(values, mask) / (mask.sum() + 1e-8)


def token_mean(loss_mat, mask):
    return masked_sum(loss_mat, mask) / mask.sum()


def low_var_kl(log_prob, ref_log_prob):
    x = torch.clamp(ref_log_prob - log_prob, min=-20.0, max=20.0)
    return torch.clamp(torch.exp(x) - x - 1.0, min=-10.0, max=10.0)


def verl_policy_loss(log_prob, old_log_prob, advantages, ref_log_prob, mask, eps_low=0.2, eps_high=0.2, clip_c=3.0,
                     kl_coef=0.001):
    log_ratio = torch.clamp(log_prob - old_log_prob, min=-20.0, max=20.0)
    ratio = torch.exp(log_ratio)
    ppo_kl = masked_mean(-log_ratio, mask)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - eps_low, 1.0 + eps_high)
    ppo = torch.maximum(unclipped, clipped)
    clipfrac = masked_mean(torch.gt(clipped, unclipped).float(), mask)
    dual = -advantages * clip_c
    ppo_dual = torch.min(dual, ppo)
    clipfrac_lower = masked_mean(torch.gt(ppo, dual) * (advantages < 0).float(), mask)
    per_token = torch.where(advantages < 0, ppo_dual, ppo)
    pg_loss = token_mean(per_token, mask)
    kl_loss = token_mean(low_var_kl(log_prob, ref_log_prob), mask)
    loss = pg_loss + kl_coef * kl_loss
    return loss, {"ppo_kl": ppo_kl.detach(), "pg_clipfrac": clipfrac.detach(), "pg_clipfrac_lower": clipfrac_lower.detach()}


def run(rows, cols, repeats, device):
    lp, old, ref, mask, seq_adv = inputs.token_batch(rows, cols)
    mask_f = torch.from_numpy(mask.astype(np.float32)).to(device)
    log_prob = torch.from_numpy(lp).to(device).requires_grad_(True)
    old_t, ref_t = torch.from_numpy(old).to(device), torch.from_numpy(ref).to(device)
    adv = torch.from_numpy(seq_adv).to(device)[:, None] * mask_f  # verl's broadcast: scores.unsqueeze(-1) * mask
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    times = []
    for r in range(repeats + 1):  # the first run warms the allocator up and is not counted
        log_prob.grad = None
        sync()
        t0 = time.perf_counter()
        loss, metrics = verl_policy_loss(log_prob, old_t, adv, ref_t, mask_f)
        loss.backward()
        sync()
        t1 = time.perf_counter()
        if r > 0:
            times.append(t1 - t0)
    grad = log_prob.grad
    return {
        "name": f"torch_policy_loss/B:{rows}/T:{cols}", "device": device,
        "rows": rows, "cols": cols, "threads": torch.get_num_threads(), "repeats": repeats,
        "median_s": statistics.median(times), "min_s": min(times),
        "loss": float(loss), "pg_clipfrac": float(metrics["pg_clipfrac"]),
        "grad_abs_sum": float(grad.abs().sum()), "valid_tokens": int(mask.sum()),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--shapes", default="1024x1024,4096x4096")
    ap.add_argument("--repeats", type=int, default=0, help="timed runs per shape (0: 10 below 4M tokens, else 3)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for s in args.shapes.split(","):
        rows, cols = (int(x) for x in s.split("x"))
        repeats = args.repeats or (10 if rows * cols < (1 << 22) or args.device == "cuda" else 3)
        print(json.dumps(run(rows, cols, repeats, args.device)), flush=True)


if __name__ == "__main__":
    main()

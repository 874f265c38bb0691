#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""PyTorch reference for bench/logits and bench/cuda: log_softmax + gather + entropy, forward and backward, eager mode.

The formulation trainers write (verl entropy_from_logits, TRL selective_log_softmax): it materialises the softmax.
bfloat16 logits are upcast to float32 first, as those trainers do before log_softmax. Logits are random normal of
std 2, made on the device. Prints a line per measurement and, with --json, one JSON object.
Usage: python3 token_logprobs_reference.py [--rows 1024] [--vocab 152064] [--threads 2] [--device cpu|cuda]
                                           [--dtype float32|bfloat16] [--repeats 3] [--json]
"""
import argparse
import json
import time

import torch


def step(x, y, t):
    z = x.float() / t
    logp_all = torch.log_softmax(z, dim=-1)
    logp = logp_all.gather(-1, y.unsqueeze(-1)).squeeze(-1)
    p = logp_all.exp()
    entropy = -(p * logp_all).sum(-1)
    return logp, entropy


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1024)
    ap.add_argument("--vocab", type=int, default=152064)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dtype = getattr(torch, a.dtype)
    gen = torch.Generator(device=a.device).manual_seed(7)
    x = (torch.randn(a.rows, a.vocab, generator=gen, device=a.device) * 2).to(dtype)
    y = torch.randint(0, a.vocab, (a.rows,), generator=gen, device=a.device)
    sync = torch.cuda.synchronize if a.device == "cuda" else (lambda: None)

    def timed(fn):
        fn()  # warm-up: allocator, kernels' first launch
        best = float("inf")
        for _ in range(a.repeats):
            sync()
            t0 = time.perf_counter()
            fn()
            sync()
            best = min(best, time.perf_counter() - t0)
        return best

    with torch.no_grad():
        fwd = timed(lambda: step(x, y, 1.0))

    def fwd_bwd():
        xr = x.detach().requires_grad_(True)
        logp, ent = step(xr, y, 1.0)
        (logp.sum() + 0.1 * ent.sum()).backward()

    both = timed(fwd_bwd)
    gb = x.numel() * x.element_size() / 1e9
    print(f"torch {torch.__version__} device={a.device} dtype={a.dtype} threads={a.threads} rows={a.rows} vocab={a.vocab}")
    print(f"forward          {fwd * 1e3:9.2f} ms  ({gb / fwd:6.2f} GB/s of logits)")
    print(f"forward+backward {both * 1e3:9.2f} ms")
    if a.json:
        print(json.dumps({"name": f"torch_token_logprobs/{a.dtype}/N:{a.rows}/V:{a.vocab}", "device": a.device,
                          "dtype": a.dtype, "rows": a.rows, "vocab": a.vocab, "forward_s": fwd,
                          "forward_backward_s": both}), flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the parity vectors of tests/parity: the frameworks' own loss and advantage functions, run in float64 on
random and degenerate inputs, their results stored as JSON next to the inputs and the options that reproduce them.

    python3 tests/parity/generate.py --verl VERL_CHECKOUT [--preset verl|verl_2026_01] [--trl TRL_CHECKOUT]
                                     [--out tests/parity/data]

tests/parity/regenerate.sh runs it at the pinned commits (verl 1dda039b with --preset verl, verl b178a3cd with
--preset verl_2026_01, TRL f2cd5771). --preset verl writes every family as data/verl_<family>.json; verl_2026_01
writes the families that verl b178a3cd has as data/verl_2026_01_<family>.json. One JSON file per family, each with
a random generator of its own, so that a family added later leaves the others' files as they were.

A checkout is a source tree of the framework (a git work tree, or the files of one commit exported with
`git archive COMMIT | tar -x`). Only the module files holding the functions are loaded: verl's
verl/trainer/ppo/core_algos.py, verl/utils/torch_functional.py and verl/trainer/ppo/rollout_corr_helper.py,
TRL's GRPOTrainer._compute_loss out of trl/trainer/grpo_trainer.py. Their heavy imports (omegaconf, tensordict,
transformers, the rest of the package) are replaced by empty stand-ins here, since the functions under test do not
use them. Needs PyTorch and NumPy. The commit of each framework is read with `git rev-parse HEAD` in the checkout,
or given with --verl-commit / --trl-commit, and recorded in every file and every case.
"""
import argparse
import ast
import importlib.util
import json
import math
import os
import subprocess
import sys
import types

import numpy as np
import torch

# Every tensor is made float64 explicitly: torch's default dtype stays float32, as in the frameworks, since their
# scalars made with torch.tensor(1.0) (verl's singleton std) follow it.
F64 = torch.float64


# ---------------------------------------------------------------------------------------------------------------
# Loading the frameworks' modules


def stub_module(name, **attrs):
    mod = types.ModuleType(name)
    mod.__path__ = []  # a package, so that submodules can be registered below it
    for k, v in attrs.items():
        setattr(mod, k, v)
    sys.modules[name] = mod
    parent, _, child = name.rpartition(".")
    if parent and parent in sys.modules:
        setattr(sys.modules[parent], child, mod)
    return mod


def load_file(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    parent, _, child = name.rpartition(".")
    if parent in sys.modules:
        setattr(sys.modules[parent], child, mod)
    spec.loader.exec_module(mod)
    return mod


class ActorConfig(dict):
    """Stands in for verl.workers.config.ActorConfig: attribute access and .get over the fields the losses read."""

    def __getattr__(self, k):
        try:
            return self[k]
        except KeyError as e:
            raise AttributeError(k) from e


class AlgoConfig(ActorConfig):
    """Stands in for verl.trainer.config.AlgoConfig (attribute access and .get)."""


def load_verl(root):
    class _Any:
        def __init__(self, *a, **k):
            pass

    def deprecated(*_a, **_k):
        return lambda f: f

    def unused(*_a, **_k):
        raise NotImplementedError("not used by the parity generator")

    stub_module("omegaconf", DictConfig=_Any, OmegaConf=_Any, ListConfig=_Any)
    stub_module("tensordict", TensorDict=_Any)
    stub_module("transformers", PreTrainedTokenizer=_Any)
    stub_module("verl")
    stub_module("verl.utils", as_torch_index=unused, group_mean_std=unused)
    stub_module("verl.utils.device", get_device_name=lambda: "cpu", get_torch_device=lambda: torch.cuda,
                is_npu_available=False, is_cuda_available=False)
    stub_module("verl.utils.import_utils", deprecated=deprecated)
    stub_module("verl.trainer")
    stub_module("verl.trainer.config", AlgoConfig=AlgoConfig)
    stub_module("verl.trainer.ppo")
    stub_module("verl.workers")
    stub_module("verl.workers.config", ActorConfig=ActorConfig)
    load_file("verl.utils.torch_functional", os.path.join(root, "verl/utils/torch_functional.py"))
    return load_file("verl.trainer.ppo.core_algos", os.path.join(root, "verl/trainer/ppo/core_algos.py"))


def load_trl_compute_loss(root):
    """GRPOTrainer._compute_loss compiled alone from TRL's source (its module imports all of transformers)."""
    path = os.path.join(root, "trl/trainer/grpo_trainer.py")
    tree = ast.parse(open(path).read(), path)
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "GRPOTrainer":
            for fn in node.body:
                if isinstance(fn, ast.FunctionDef) and fn.name == "_compute_loss":
                    fn.decorator_list = []
                    mod = ast.Module(body=[fn], type_ignores=[])
                    # The two metric helpers it calls from trl.trainer.utils, stood in for (they only feed logs).
                    ns = {"torch": torch, "math": math, "nanmin": _nan_reduce(torch.min), "nanmax": _nan_reduce(torch.max)}
                    exec(compile(mod, path, "exec"), ns)
                    return ns["_compute_loss"]
    raise SystemExit(f"{path}: GRPOTrainer._compute_loss not found")


def _nan_reduce(f):
    def g(t):
        t = t[~torch.isnan(t)]
        return f(t) if t.numel() else torch.tensor(float("nan"), dtype=F64)

    return g


def commit_of(root, given):
    if given:
        return given
    try:
        return subprocess.check_output(["git", "-C", root, "rev-parse", "HEAD"], text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        raise SystemExit(f"{root}: not a git work tree; give the commit with --verl-commit / --trl-commit")


# ---------------------------------------------------------------------------------------------------------------
# Inputs


def flat(t):
    return [float(x) for x in t.detach().reshape(-1).tolist()]


def num(x):
    x = float(x.detach()) if torch.is_tensor(x) else float(x)
    return None if math.isnan(x) else x


def ragged_mask(rng, B, T, empty_rows=0, all_empty=False):
    m = np.zeros((B, T))
    for i in range(B):
        m[i, : rng.integers(1, T + 1)] = 1
    for i in rng.choice(B, size=min(empty_rows, B), replace=False) if empty_rows else []:
        m[i, :] = 0
    if all_empty:
        m[:] = 0
    return torch.tensor(m)


def loss_inputs(rng, B, T, kind):
    old = torch.tensor(rng.uniform(-3.0, -0.05, (B, T)))
    lr = rng.normal(0.0, 0.3, (B, T))
    if kind == "clamps":  # log-ratios of +-25 reach verl's +-20 clamp and GSPO's 10
        lr[rng.random((B, T)) < 0.4] = 25.0
        lr[rng.random((B, T)) < 0.3] = -25.0
    elif kind == "ratio_one":
        lr[:] = 0.0
    elif kind == "wide":
        lr = rng.normal(0.0, 1.0, (B, T))
    lp = old + torch.tensor(lr)
    adv_row = rng.normal(0.0, 1.0, (B, 1))
    # Per-token advantages (as from GAE) for the wide log-ratios, one per sequence (GRPO) otherwise.
    adv = torch.tensor(np.repeat(adv_row, T, axis=1) + (rng.normal(0, 0.5, (B, T)) if kind == "wide" else 0))
    ref = lp.detach() + torch.tensor(rng.normal(0.0, 0.5, (B, T)))
    if kind == "clamps":
        ref = lp.detach() + torch.tensor(np.where(rng.random((B, T)) < 0.5, 25.0, -25.0))
    return lp, old, adv, ref


# ---------------------------------------------------------------------------------------------------------------
# verl


def verl_loss_cases(core, commit, rng):
    cases = []
    modes = ["vanilla", "gspo", "cispo", "sapo", "gpg"]
    aggs = ["token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm"]
    kinds = ["normal", "clamps", "ratio_one", "wide"]
    n = 0
    for mode in modes:
        for agg in aggs:
            for kind in kinds:
                for variant in range(2):
                    n += 1
                    B, T = int(rng.integers(1, 5)), int(rng.integers(1, 7))
                    mask = ragged_mask(rng, B, T, empty_rows=int(rng.integers(0, 2)) if B > 1 else 0)
                    info = {}
                    if variant == 1:  # global normalisers and dp_size, as verl's global_batch_info
                        info = {"dp_size": int(rng.choice([2, 4])),
                                "batch_num_tokens": float(mask.sum() + rng.integers(0, 9)),
                                "global_batch_size": float(B + rng.integers(0, 4)),
                                "loss_scale_factor": float(rng.choice([T, 2 * T, 1000]))}
                    cases.append(verl_loss_case(core, commit, rng, f"{mode} {agg} {kind} v{variant}", mode, agg,
                                                kind, B, T, mask, info, kl=None))
    # The KL terms, aggregated locally as verl's actor does (kl_penalty, then agg_loss without global_batch_info).
    # (The "+" straight-through names are not run: kl_penalty passes them on to kl_penalty_forward, which raises
    # NotImplementedError for them at b178a3cd.)
    for kl in ["kl", "k1", "abs", "mse", "k2", "low_var_kl", "k3"]:
        for kind in ["normal", "clamps"]:
            for mode in ["vanilla", "cispo", "gpg"]:
                B, T = int(rng.integers(1, 6)), int(rng.integers(1, 8))
                mask = ragged_mask(rng, B, T)
                agg = str(rng.choice(aggs))
                cases.append(verl_loss_case(core, commit, rng, f"{mode} {agg} kl={kl} {kind}", mode, agg, kind, B, T,
                                            mask, {}, kl=kl))
    # Degenerate batches: every token masked (verl gives NaN or 0; the library 0), a 1x1 batch, clip-higher and a
    # wider dual clip.
    for mode in modes:
        mask = torch.zeros((3, 4), dtype=F64)
        cases.append(verl_loss_case(core, commit, rng, f"{mode} all masked", mode, "token-mean", "normal", 3, 4,
                                    mask, {}, kl=None))
        cases.append(verl_loss_case(core, commit, rng, f"{mode} 1x1", mode, "token-mean", "wide", 1, 1,
                                    torch.ones((1, 1), dtype=F64), {}, kl=None))
        cases.append(verl_loss_case(core, commit, rng, f"{mode} clip-higher c=10", mode, "seq-mean-token-mean",
                                    "wide", 4, 6, ragged_mask(rng, 4, 6, empty_rows=1), {}, kl=None,
                                    clip=(0.2, 0.28), clip_c=10.0))
    # The reproducer of GSPO under the verl preset (no dual clip, seq-mean-token-mean).
    cases.append(verl_loss_case(core, commit, rng, "gspo reproducer", "gspo", "token-mean", None, 1, 2,
                                torch.ones((1, 2), dtype=F64), {}, kl=None,
                                fixed=(torch.tensor([[0.5, 0.5]], dtype=F64), torch.tensor([[-1.0, -1.0]], dtype=F64),
                                       torch.tensor([[-1.0, -1.0]], dtype=F64))))
    return cases


def verl_loss_case(core, commit, rng, name, mode, agg, kind, B, T, mask, info, kl, clip=(0.2, 0.2), clip_c=3.0,
                   fixed=None, weights=None, policy_loss=None, kl_global=False):
    if fixed:
        lp0, old, adv = fixed
        ref = lp0.clone()
    else:
        lp0, old, adv, ref = loss_inputs(rng, B, T, kind)
    lp = lp0.detach().clone().requires_grad_(True)
    cfg = ActorConfig(clip_ratio=clip[0], clip_ratio_low=clip[0], clip_ratio_high=clip[1], clip_ratio_c=clip_c,
                      tau_pos=1.0, tau_neg=1.05, global_batch_info=dict(info))
    if policy_loss is not None:  # verl's actor.policy_loss block (Clip-Cov and KL-Cov read theirs from it)
        cfg["policy_loss"] = ActorConfig(policy_loss)
    fn = core.get_policy_loss_fn(mode)
    extra = {} if weights is None else {"rollout_is_weights": weights}
    pg_loss, metrics = fn(old_log_prob=old, log_prob=lp, advantages=adv, response_mask=mask, loss_agg_mode=agg,
                          config=cfg, **extra)
    total = pg_loss
    kl_loss = torch.tensor(0.0, dtype=F64)
    kl_coef = 0.0
    if kl:
        kl_coef = 0.1
        kld = core.kl_penalty(logprob=lp, ref_logprob=ref, kl_penalty=kl)
        # kl_global: with the global batch information, as verl's actor loss (workers/utils/losses.py) at 1dda039b.
        kl_loss = core.agg_loss(loss_mat=kld, loss_mask=mask, loss_agg_mode=agg, **(info if kl_global else {}))
        total = total + kl_loss * kl_coef
    grad = torch.autograd.grad(total, lp, allow_unused=True)[0] if total.requires_grad else None
    if grad is None:
        grad = torch.zeros_like(lp)
    case = {
        "name": name, "framework": "verl", "commit": commit, "function": f"policy loss {mode!r} + kl_penalty + agg_loss",
        "rows": B, "cols": T,
        "log_probs": flat(lp0), "old_log_probs": flat(old), "advantages": flat(adv), "mask": flat(mask),
        "options": {"mode": mode, "aggregation": agg, "clip_ratio_low": clip[0], "clip_ratio_high": clip[1],
                    "clip_ratio_c": clip_c, "kl": kl or "none", "kl_coef": kl_coef, "batch_info": info,
                    "policy_loss": dict(policy_loss or {})},
        "expected": {"loss": num(total), "pg_loss": num(pg_loss), "kl_loss": num(kl_loss),
                     "grad": [num(g) for g in flat(grad)],
                     "stats": {k.split("/")[1]: num(v) for k, v in metrics.items()}},
    }
    if kl:
        case["ref_log_probs"] = flat(ref)
    if weights is not None:
        case["token_weights"] = flat(weights)
    return case


def verl_token_weight_cases(core, commit, rng):
    """Every loss mode with rollout_is_weights (verl multiplies each token's pg loss by its weight before agg_loss),
    with and without the KL term and global batch information; weights in [0, 2), some exactly 0."""
    cases = []
    aggs = ["token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm"]
    for mode in ["vanilla", "gspo", "cispo", "sapo", "gpg"]:
        for agg in aggs:
            for kind in ["normal", "wide", "clamps"]:
                B, T = int(rng.integers(1, 6)), int(rng.integers(1, 8))
                mask = ragged_mask(rng, B, T, empty_rows=int(rng.integers(0, 2)) if B > 1 else 0)
                w = rng.uniform(0.0, 2.0, (B, T))
                w[rng.random((B, T)) < 0.15] = 0.0
                info = {}
                if kind == "wide":
                    info = {"dp_size": 2, "batch_num_tokens": float(mask.sum() + 3), "global_batch_size": float(B + 1),
                            "loss_scale_factor": float(2 * T)}
                # The KL term only where the mode's pg loss follows loss_agg_mode: verl's GSPO and SAPO force
                # seq-mean-token-mean on their pg loss alone, the library on the whole call (as the KL cases above).
                kl = "low_var_kl" if kind == "normal" and mode not in ("gspo", "sapo") else None
                cases.append(verl_loss_case(core, commit, rng, f"{mode} {agg} {kind} weighted", mode, agg, kind, B, T,
                                            mask, info, kl=kl, weights=torch.tensor(w)))
    return cases


def verl_dppo_cases(core, commit, rng):
    """DPPO-Binary-TV and -KL (verl's dppo_tv / dppo_kl, since 1dda039b): every aggregation with local and global batch
    information, thresholds and truncation caps that act, log-ratios of +-25, probabilities near 1 (the binary KL's
    1e-8 guards), zero advantages, masked rows, a masked batch, rollout weights and the KL term."""
    cases = []
    aggs = ["token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm", "token-sum"]
    # (eps_low, eps_high) per mode: verl's example thresholds (0.15 TV, 0.05 KL), tighter and asymmetric ones.
    clips = {"dppo_tv": [(0.15, 0.15), (0.03, 0.08)], "dppo_kl": [(0.05, 0.05), (0.01, 0.03)]}
    for mode in ["dppo_tv", "dppo_kl"]:
        for agg in aggs:
            for kind in ["normal", "clamps", "wide"]:
                for variant in range(2):
                    B, T = int(rng.integers(1, 5)), int(rng.integers(1, 7))
                    mask = ragged_mask(rng, B, T, empty_rows=int(rng.integers(0, 2)) if B > 1 else 0)
                    info = {}
                    if variant == 1:
                        info = {"dp_size": int(rng.choice([2, 4])),
                                "batch_num_tokens": float(mask.sum() + rng.integers(0, 9)),
                                "global_batch_size": float(B + rng.integers(0, 4)),
                                "loss_scale_factor": float(rng.choice([T, 2 * T, 1000]))}
                    # The cap: verl's ActorConfig default 3, its loss functions' fallback 20, and 1.2 (r > c often).
                    clip_c = float(rng.choice([1.2, 3.0, 20.0]))
                    cases.append(verl_loss_case(core, commit, rng, f"{mode} {agg} {kind} v{variant}", mode, agg, kind,
                                                B, T, mask, info, kl=None, clip=clips[mode][variant], clip_c=clip_c))
        for agg in aggs:
            B, T = 4, 5
            mask = ragged_mask(rng, B, T, empty_rows=1)
            # Probabilities near 1: log-probs in {0, -1e-10, -1e-7, -1e-4, -1e-2}, so 1 - p meets the 1e-8 guards.
            near = np.array([0.0, -1e-10, -1e-7, -1e-4, -1e-2])
            old = torch.tensor(rng.choice(near, (B, T)))
            lp0 = torch.tensor(rng.choice(near, (B, T)))
            # Zero advantages in one row, signs mixed per token elsewhere.
            adv = torch.tensor(rng.normal(0.0, 1.0, (B, T)))
            adv[int(rng.integers(0, B)), :] = 0.0
            cases.append(verl_loss_case(core, commit, rng, f"{mode} {agg} near one", mode, agg, None, B, T, mask, {},
                                        kl=None, clip=clips[mode][1], clip_c=1.2, fixed=(lp0, old, adv)))
            w = rng.uniform(0.0, 2.0, (B, T))
            w[rng.random((B, T)) < 0.2] = 0.0
            cases.append(verl_loss_case(core, commit, rng, f"{mode} {agg} weighted", mode, agg, "wide", B, T,
                                        ragged_mask(rng, B, T, empty_rows=1), {}, kl="low_var_kl",
                                        clip=clips[mode][0], clip_c=1.5, weights=torch.tensor(w)))
        cases.append(verl_loss_case(core, commit, rng, f"{mode} all masked", mode, "token-mean", "normal", 3, 4,
                                    torch.zeros((3, 4), dtype=F64), {}, kl=None, clip=clips[mode][0], clip_c=20.0))
        cases.append(verl_loss_case(core, commit, rng, f"{mode} 1x1 ratio one", mode, "token-mean", "ratio_one", 1, 1,
                                    torch.ones((1, 1), dtype=F64), {}, kl=None, clip=clips[mode][0], clip_c=20.0))
    return cases


def verl_batch_mode_cases(core, commit, rng):
    """GMPO ("geo_mean"), Clip-Cov and KL-Cov: every aggregation, global batch information, rollout_is_weights.

    Clip-Cov draws the tokens it cuts with torch.randperm among its candidates; the cases force the draw: a
    clip_cov_ratio of 1 cuts max(1, N) >= every candidate (all are cut), a covariance window above every |cov| cuts
    none. KL-Cov's torch.topk is decided by the covariances unless they tie at the k-th largest (equal advantages
    tie them all at 0): such draws are drawn again (kl_cov_choice_forced)."""
    cases = []
    aggs = ["token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm", "token-sum"]
    kl_cov = [{"kl_cov_ratio": r, "ppo_kl_coef": c} for r, c in [(2e-4, 1.0), (0.1, 1.0), (0.3, 0.5), (1.0, 2.0)]]
    clip_cov = [{"clip_cov_ratio": 1.0, "clip_cov_lb": lb, "clip_cov_ub": ub} for lb, ub in
                [(1.0, 5.0), (0.0, 5.0), (-10.0, 10.0), (0.05, 0.5)]] + \
               [{"clip_cov_ratio": 2e-4, "clip_cov_lb": 1e3, "clip_cov_ub": 2e3}]
    for mode in ["geo_mean", "clip_cov", "kl_cov"]:
        for agg in aggs:
            for kind in ["normal", "clamps", "ratio_one", "wide"]:
                for variant in range(3):
                    while True:  # KL-Cov: drawn again until its choice is forced (kl_cov_choice_forced)
                        c = verl_batch_mode_case(core, commit, rng, mode, agg, kind, variant, kl_cov, clip_cov)
                        if mode != "kl_cov" or kl_cov_choice_forced(c, c["options"]["policy_loss"]["kl_cov_ratio"]):
                            break
                    cases.append(c)
        # KL terms beside them (local aggregation, as in verl_loss_cases), and a 1x1 batch.
        for kl in ["low_var_kl", "k1", "mse"]:
            B, T = int(rng.integers(2, 6)), int(rng.integers(2, 8))
            pl = {"geo_mean": None, "kl_cov": kl_cov[1], "clip_cov": clip_cov[0]}[mode]
            cases.append(verl_loss_case(core, commit, rng, f"{mode} kl={kl}", mode, "token-mean", "normal", B, T,
                                        ragged_mask(rng, B, T), {}, kl=kl, policy_loss=pl))
        pl = {"geo_mean": None, "kl_cov": kl_cov[0], "clip_cov": clip_cov[0]}[mode]
        cases.append(verl_loss_case(core, commit, rng, f"{mode} 1x1", mode, "token-mean", "wide", 1, 1,
                                    torch.ones((1, 1), dtype=F64), {}, kl=None, policy_loss=pl))
    return cases


def verl_batch_mode_case(core, commit, rng, mode, agg, kind, variant, kl_cov, clip_cov):
    B, T = int(rng.integers(1, 6)), int(rng.integers(1, 8))
    mask = ragged_mask(rng, B, T, empty_rows=int(rng.integers(0, 2)) if B > 1 else 0)
    info, weights = {}, None
    if variant == 1:
        info = {"dp_size": int(rng.choice([2, 4])), "batch_num_tokens": float(mask.sum() + rng.integers(0, 9)),
                "global_batch_size": float(B + rng.integers(0, 4)),
                "loss_scale_factor": float(rng.choice([T, 2 * T, 1000]))}
    if variant == 2:
        w = rng.uniform(0.0, 2.0, (B, T))
        w[rng.random((B, T)) < 0.15] = 0.0
        weights = torch.tensor(w)
    pl = None
    if mode == "kl_cov":
        pl = kl_cov[int(rng.integers(0, len(kl_cov)))]
    elif mode == "clip_cov":
        pl = clip_cov[int(rng.integers(0, len(clip_cov)))]
    clip = (0.2, 0.28) if kind == "wide" else (0.2, 0.2)
    return verl_loss_case(core, commit, rng, f"{mode} {agg} {kind} v{variant}", mode, agg, kind, B, T, mask, info,
                          kl=None, clip=clip, weights=weights, policy_loss=pl)


def kl_cov_choice_forced(case, ratio):
    """Whether KL-Cov's top-k is decided by the covariances alone: every token penalised, or the k-th and (k+1)-th
    largest covariances apart by more than rounding (equal advantages, e.g. a single row, tie them all at 0)."""
    m = np.array(case["mask"]) > 0
    a, lp = np.array(case["advantages"])[m], np.array(case["log_probs"])[m]
    k = max(1, int(len(a) * ratio))
    if k >= len(a):
        return True
    cov = np.sort((a - a.mean()) * (lp - lp.mean()))[::-1]
    return cov[k - 1] - cov[k] > 1e-9 * max(1.0, abs(cov).max())


def verl_convention_cases(core, commit, rng):
    """What verl's agg_loss, kl_penalty and actor loss changed after b178a3cd: the token-sum aggregation (every mode,
    with and without global batch information), the "+" straight-through KL names (the estimator's value, k2's
    gradient) and the KL term aggregated with the global batch information."""
    cases = []
    for mode in ["vanilla", "gspo", "cispo", "sapo", "gpg"]:
        for kind in ["normal", "clamps", "wide"]:
            for variant in range(2):
                B, T = int(rng.integers(1, 6)), int(rng.integers(1, 8))
                mask = ragged_mask(rng, B, T, empty_rows=int(rng.integers(0, 2)) if B > 1 else 0)
                info = {}
                if variant:  # GSPO and SAPO force seq-mean-token-mean, which needs global_batch_size with dp_size
                    info = {"dp_size": int(rng.choice([2, 4])), "batch_num_tokens": float(mask.sum() + 2),
                            "global_batch_size": float(B + 1), "loss_scale_factor": float(2 * T)}
                cases.append(verl_loss_case(core, commit, rng, f"{mode} token-sum {kind} v{variant}", mode,
                                            "token-sum", kind, B, T, mask, info, kl=None))
    aggs = ["token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm", "token-sum"]
    for kl in ["kl+", "k1+", "abs+", "mse+", "k2+", "low_var_kl+", "k3+"]:
        for kind in ["normal", "clamps"]:
            for mode in ["vanilla", "cispo", "gpg"]:
                B, T = int(rng.integers(1, 6)), int(rng.integers(1, 8))
                agg = str(rng.choice(aggs))
                cases.append(verl_loss_case(core, commit, rng, f"{mode} {agg} kl={kl} {kind}", mode, agg, kind, B, T,
                                            ragged_mask(rng, B, T), {}, kl=kl))
    # The KL term aggregated with the global batch information too, as verl's actor does since then.
    for kl in ["low_var_kl", "k3+", "abs"]:
        for mode in ["vanilla", "cispo", "gpg"]:
            for agg in aggs:
                B, T = int(rng.integers(1, 6)), int(rng.integers(1, 8))
                mask = ragged_mask(rng, B, T, empty_rows=int(rng.integers(0, 2)) if B > 1 else 0)
                info = {"dp_size": int(rng.choice([2, 4])), "batch_num_tokens": float(mask.sum() + rng.integers(0, 9)),
                        "global_batch_size": float(B + rng.integers(0, 4)),
                        "loss_scale_factor": float(rng.choice([T, 2 * T, 1000]))}
                cases.append(verl_loss_case(core, commit, rng, f"{mode} {agg} kl={kl} global", mode, agg, "normal", B,
                                            T, mask, info, kl=kl, kl_global=True))
    return cases


def verl_advantage_cases(core, commit, rng):
    cases = []
    layouts = [[1], [1, 1, 1], [2, 3, 1, 4], [4, 4], [5], [8, 1, 2], [3, 3, 3]]
    for li, sizes in enumerate(layouts):
        for kind in ["random", "binary", "non_dyadic", "all_equal", "mixed"]:
            for norm in [True, False]:
                n = sum(sizes)
                if kind == "random":
                    r = rng.normal(0.0, 2.0, n)
                elif kind == "binary":
                    r = rng.integers(0, 2, n).astype(float)
                elif kind == "non_dyadic":
                    r = rng.choice([0.1, 1.0 / 3.0, 0.7, 2.0 / 3.0], n)
                elif kind == "all_equal":
                    r = np.full(n, 0.3)
                else:
                    r = np.concatenate([np.full(s, 0.5) if g % 2 else rng.normal(0, 1, s) for g, s in enumerate(sizes)])
                index = np.concatenate([np.full(s, f"p{g}") for g, s in enumerate(sizes)])
                T = 3
                tok = torch.zeros((n, T), dtype=F64)
                tok[:, -1] = torch.tensor(r)
                adv, _ = core.compute_grpo_outcome_advantage(token_level_rewards=tok,
                                                             response_mask=torch.ones((n, T), dtype=F64), index=index,
                                                             norm_adv_by_std_in_grpo=norm)
                cases.append({"name": f"grpo {sizes} {kind} norm={norm}", "framework": "verl", "commit": commit,
                              "function": "compute_grpo_outcome_advantage", "rewards": [float(x) for x in r],
                              "group_sizes": sizes, "norm_adv_by_std_in_grpo": norm, "epsilon": 1e-6,
                              "expected": [num(x) for x in flat(adv[:, 0])]})
    return cases


def verl_helper_cases(core, commit, rng):
    """KL controllers, masked_sum / masked_mean / masked_var and compute_value_loss (with its gradient)."""
    verl_F = sys.modules["verl.utils.torch_functional"]
    cases = []
    for init, target, horizon in [(0.001, 0.1, 10000), (0.2, 0.02, 500), (0.05, 1.0, 64)]:
        ctl = core.AdaptiveKLController(init_kl_coef=init, target_kl=target, horizon=horizon)
        kls = [float(x) for x in rng.uniform(0.0, 3.0 * target, 40)]
        steps = [int(x) for x in rng.integers(1, 256, 40)]
        values = []
        for kl, n in zip(kls, steps):
            ctl.update(kl, n)
            values.append(float(ctl.value))
        cases.append({"name": f"adaptive kl {init} {target} {horizon}", "function": "AdaptiveKLController",
                      "commit": commit, "init_kl_coef": init, "target_kl": target, "horizon": horizon,
                      "current_kl": kls, "n_steps": steps, "expected": values})
    for n in range(12):
        B, T = int(rng.integers(1, 6)), int(rng.integers(1, 9))
        mask = ragged_mask(rng, B, T, empty_rows=int(rng.integers(0, 2)) if B > 1 else 0)
        if mask.sum() < 2:
            mask[0, :] = 1
            if T == 1 and B == 1:
                continue
        v = torch.tensor(rng.normal(0.0, 2.0, (B, T)))
        cases.append({"name": f"masked reductions {n}", "function": "masked_sum/masked_mean/masked_var",
                      "commit": commit, "B": B, "T": T, "values": flat(v), "mask": flat(mask),
                      "sum": num(verl_F.masked_sum(v, mask)), "mean": num(verl_F.masked_mean(v, mask)),
                      "var": num(verl_F.masked_var(v, mask)), "var_biased": num(verl_F.masked_var(v, mask, False)),
                      "row_sum": flat(verl_F.masked_sum(v, mask, axis=-1)),
                      "row_mean": flat(verl_F.masked_mean(v, mask, axis=-1))})
    for agg in ["token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm"]:
        for variant in range(4):
            B, T = int(rng.integers(1, 6)), int(rng.integers(1, 9))
            mask = ragged_mask(rng, B, T, empty_rows=int(rng.integers(0, 2)) if B > 1 else 0)
            old = torch.tensor(rng.normal(0.0, 1.0, (B, T)))
            vp = (old + torch.tensor(rng.normal(0.0, 0.6, (B, T)))).requires_grad_(True)
            ret = old + torch.tensor(rng.normal(0.0, 1.0, (B, T)))
            c = float(rng.choice([0.2, 0.5]))
            loss, clipfrac = core.compute_value_loss(vpreds=vp, returns=ret, values=old, response_mask=mask,
                                                     cliprange_value=c, loss_agg_mode=agg)
            loss.backward()
            cases.append({"name": f"value loss {agg} {variant}", "function": "compute_value_loss", "commit": commit,
                          "B": B, "T": T, "vpreds": flat(vp), "returns": flat(ret), "values": flat(old),
                          "mask": flat(mask), "cliprange_value": c, "loss_agg_mode": agg, "loss": num(loss),
                          "vf_clipfrac": num(clipfrac), "grad_vpreds": flat(vp.grad)})
    return cases


def load_verl_rollout_corr(root):
    """verl's rollout_corr_helper.py after load_verl (its config and DataProto imports stood in for)."""
    class _Any:
        def __init__(self, *a, **k):
            pass

    class _DataProto:
        """Holds the tensors verl wraps its weights in."""

        def __init__(self, tensors):
            self.tensors = tensors

        @classmethod
        def from_dict(cls, tensors):
            return cls(tensors)

    stub_module("verl.protocol", DataProto=_DataProto)
    stub_module("verl.trainer.config.algorithm", RolloutCorrectionConfig=_Any)
    stub_module("verl.workers.config.actor", PolicyLossConfig=_Any)
    return load_file("verl.trainer.ppo.rollout_corr_helper", os.path.join(root, "verl/trainer/ppo/rollout_corr_helper.py"))


def verl_rollout_corr_cases(rc, commit, rng, icepop=False):
    """compute_rollout_correction_and_rejection_mask: truncated IS (token, sequence, batch-normalised) and rejection;
    with `icepop`, after those (so that they stay as they were), IcePop's "lower_upper" thresholds."""
    cases = []
    rs_specs = [(None, None), ("token_k1", "0.8_1.25"), ("token_k2,seq_mean_k1", "0.02,0.9_1.1"),
                ("seq_sum_k3", 0.05), ("seq_max_k2,seq_sum_k1", "0.05,0.7_1.4"), ("seq_mean_k3,token_k3", "0.01,0.03")]
    n = 0
    for level in ["token", "sequence"]:
        for norm in [False, True]:
            for rs, thr in rs_specs:
                n += 1
                B, T = int(rng.integers(1, 6)), int(rng.integers(1, 9))
                mask = ragged_mask(rng, B, T, empty_rows=int(rng.integers(0, 2)) if B > 1 else 0)
                rollout = torch.tensor(rng.uniform(-3.0, -0.05, (B, T)))
                old = rollout + torch.tensor(rng.normal(0.0, float(rng.choice([0.1, 0.5])), (B, T)))
                is_thr = float(rng.choice([1.5, 2.0, 5.0]))
                cases.append(rollout_corr_case(rc, commit, n, level, norm, rs, thr, B, T, mask, rollout, old, is_thr))
    for level in ["token", "sequence"] if icepop else []:
        for norm in [False, True]:
            for lo, hi in [(0.5, 2.0), (0.8, 1.25), (0.2, 5.0)]:
                n += 1
                while True:  # verl divides by zero where IcePop zeroes every weight: draw again
                    B, T = int(rng.integers(1, 6)), int(rng.integers(1, 9))
                    mask = ragged_mask(rng, B, T, empty_rows=int(rng.integers(0, 2)) if B > 1 else 0)
                    rollout = torch.tensor(rng.uniform(-3.0, -0.05, (B, T)))
                    old = rollout + torch.tensor(rng.normal(0.0, float(rng.choice([0.1, 0.5])), (B, T)))
                    rs, thr = rs_specs[int(rng.integers(0, len(rs_specs)))]
                    try:
                        cases.append(rollout_corr_case(rc, commit, n, level, norm, rs, thr, B, T, mask, rollout, old,
                                                       f"{lo}_{hi}"))
                        break
                    except ZeroDivisionError:
                        pass
    return cases


def rollout_corr_case(rc, commit, n, level, norm, rs, thr, B, T, mask, rollout, old, is_thr):
    weights, new_mask, metrics = rc.compute_rollout_correction_and_rejection_mask(
        old_log_prob=old, rollout_log_prob=rollout, response_mask=mask, rollout_is=level,
        rollout_is_threshold=is_thr, rollout_is_batch_normalize=norm, rollout_rs=rs, rollout_rs_threshold=thr)
    keys = ["rollout_is_mean", "rollout_is_max", "rollout_is_min", "rollout_is_ratio_fraction_high",
            "rollout_is_ratio_fraction_low", "rollout_is_std", "rollout_is_eff_sample_size",
            "rollout_is_batch_norm_factor", "rollout_rs_masked_fraction", "rollout_rs_seq_masked_fraction",
            "rollout_is_oob_ratio"]
    name = f"rollout corr {n} {level} norm={norm} rs={rs}" + (f" icepop={is_thr}" if isinstance(is_thr, str) else "")
    return {"name": name, "function": "compute_rollout_correction_and_rejection_mask", "commit": commit,
            "B": B, "T": T, "old_log_prob": flat(old), "rollout_log_prob": flat(rollout), "mask": flat(mask),
            "rollout_is": level, "rollout_is_threshold": is_thr, "rollout_is_batch_normalize": norm, "rollout_rs": rs,
            "rollout_rs_threshold": None if thr is None else str(thr),
            "weights": flat(weights.tensors["rollout_is_weights"]), "mask_out": flat(new_mask),
            "metrics": {k: num(metrics["rollout_corr/" + k]) for k in keys if "rollout_corr/" + k in metrics}}


def outcome_batches(rng, layouts, commit):
    """For each layout and each kind of reward, an outcome batch (outcome_batch), with its layout and kind first."""
    for sizes in layouts:
        for kind in ["random", "binary", "all_equal"]:
            yield (sizes, kind) + outcome_batch(rng, sizes, kind, commit)


def outcome_batch(rng, sizes, kind, commit, T=5):
    """One outcome reward per completion ("random", "binary" or "all_equal"), groups of `sizes`, ragged lengths;
    the reward sits at each row's last valid token. Returns n, the rewards, mask, token rewards, verl's index and
    the fields every case records."""
    n = sum(sizes)
    r = {"random": lambda: rng.normal(0.0, 2.0, n), "binary": lambda: rng.integers(0, 2, n).astype(float),
         "all_equal": lambda: np.full(n, 0.3)}[kind]()
    lengths = rng.integers(1, T + 1, n)
    mask = torch.zeros((n, T), dtype=F64)
    tok = torch.zeros((n, T), dtype=F64)
    for i in range(n):
        mask[i, : lengths[i]] = 1
        tok[i, lengths[i] - 1] = r[i]
    index = np.concatenate([np.full(s, f"p{g}") for g, s in enumerate(sizes)])
    base = dict(framework="verl", commit=commit, rewards=[float(x) for x in r], group_sizes=sizes,
                mask=[int(x) for x in flat(mask)], T=T)
    return n, r, mask, tok, index, base


def verl_baseline_cases(core, commit, rng):
    """OPO, GPG, GRPO pass@k and ReMax on ragged masks; the outcome reward sits at each row's last valid token."""
    cases = []
    for sizes, kind, n, r, mask, tok, index, base in outcome_batches(rng, [[2, 3, 1, 4], [4, 4], [8, 2, 2], [3, 3, 3],
                                                                         [1, 1, 5]], commit):
        adv, _ = core.compute_opo_outcome_advantage(token_level_rewards=tok, response_mask=mask, index=index)
        cases.append(dict(base, name=f"opo {sizes} {kind}", function="compute_opo_outcome_advantage",
                          expected=[num(x) for x in flat(adv)]))
        adv, _ = core.compute_gpg_outcome_advantage(token_level_rewards=tok, response_mask=mask, index=index)
        cases.append(dict(base, name=f"gpg {sizes} {kind}", function="compute_gpg_outcome_advantage",
                          expected=[num(x) for x in flat(adv)]))
        if min(sizes) >= 2:
            for norm in [True, False]:
                adv, _ = core.compute_grpo_passk_outcome_advantage(
                    token_level_rewards=tok, response_mask=mask, index=index,
                    config=AlgoConfig(norm_adv_by_std_in_grpo=norm))
                cases.append(dict(base, name=f"grpo_passk {sizes} {kind} norm={norm}", norm_adv_by_std_in_grpo=norm,
                                  function="compute_grpo_passk_outcome_advantage",
                                  expected=[num(x) for x in flat(adv)]))
        greedy = rng.normal(0.0, 1.0, n)
        adv, _ = core.compute_remax_outcome_advantage(token_level_rewards=tok, reward_baselines=torch.tensor(greedy),
                                                     response_mask=mask)
        cases.append(dict(base, name=f"remax {sizes} {kind}", function="compute_remax_outcome_advantage",
                          greedy_rewards=[float(x) for x in greedy], expected=[num(x) for x in flat(adv)]))
    return cases


def verl_group_advantage_cases(core, commit, rng):
    """GDPO, RLOO, REINFORCE++-baseline and REINFORCE++ on ragged masks (rewards at each row's last valid token).

    GDPO: one reward component goes through compute_gdpo_outcome_advantage's own fallback (token_level_rewards, in
    float64); several components go through its config / non_tensor_batch path, which verl computes in float32
    (np.float32 scores, float32 weights), so those cases carry a float32 tolerance."""
    cases = []
    for sizes, kind, n, r, mask, tok, index, base in outcome_batches(rng, [[2, 3, 1, 4], [4, 4], [8, 2, 2], [3, 3, 3],
                                                                         [1, 1, 5], [6]], commit):
        adv, _ = core.compute_rloo_outcome_advantage(token_level_rewards=tok, response_mask=mask, index=index)
        cases.append(dict(base, name=f"rloo {sizes} {kind}", function="compute_rloo_outcome_advantage",
                          expected=[num(x) for x in flat(adv)]))
        if mask.sum() >= 2:  # verl's masked_var raises for a single valid token
            adv, _ = core.compute_reinforce_plus_plus_baseline_outcome_advantage(
                token_level_rewards=tok, response_mask=mask, index=index)
            cases.append(dict(base, name=f"reinforce++ baseline {sizes} {kind}",
                              function="compute_reinforce_plus_plus_baseline_outcome_advantage",
                              expected=[num(x) for x in flat(adv)]))
        for norm in [True, False]:
            adv, _ = core.compute_gdpo_outcome_advantage(token_level_rewards=tok, response_mask=mask, index=index,
                                                         norm_adv_by_std_in_grpo=norm)
            cases.append(dict(base, name=f"gdpo 1 component {sizes} {kind} norm={norm}",
                              function="compute_gdpo_outcome_advantage", components=[[float(x) for x in r]],
                              weights=[1.0], norm_adv_by_std_in_grpo=norm, tolerance=1e-12,
                              expected=[num(x) for x in flat(adv)]))
        # Several components; values and weights exact in float32 so that the inputs are the same.
        K = int(rng.integers(2, 4))
        comps = [rng.integers(0, 5, n) / 4.0 for _ in range(K)]
        weights = [float(x) for x in rng.choice([0.5, 1.0, 2.0, 0.25], K)] if kind != "all_equal" else None
        keys = [f"c{k}" for k in range(K)]
        cfg = AlgoConfig(gdpo_reward_keys=keys)
        if weights is not None:
            cfg["gdpo_reward_weights"] = weights
        P = 2  # prompt length: verl finds each row's last valid token from the attention mask
        attn = torch.cat([torch.ones((n, P), dtype=torch.long), mask.long()], dim=1)
        batch = {"prompts": torch.zeros((n, P), dtype=torch.long), "attention_mask": attn}
        adv, _ = core.compute_gdpo_outcome_advantage(
            token_level_rewards=tok, response_mask=mask, index=index, config=cfg, batch=batch,
            non_tensor_batch={k: c for k, c in zip(keys, comps)})
        cases.append(dict(base, name=f"gdpo {K} components {sizes} {kind}", function="compute_gdpo_outcome_advantage",
                          components=[[float(x) for x in c] for c in comps], weights=weights or [1.0] * K,
                          norm_adv_by_std_in_grpo=True, tolerance=float(2 ** -20),
                          expected=[num(x) for x in flat(adv)]))
    # REINFORCE++ (token level, gamma in {1, 0.9}) on trailing padding and on masks with 0s between valid tokens
    # (observation spans), token rewards anywhere, some at masked positions.
    for variant in range(12):
        B, T = int(rng.integers(1, 6)), int(rng.integers(2, 9))
        mask = ragged_mask(rng, B, T)
        if variant >= 6:
            mask = torch.tensor((rng.random((B, T)) < 0.7).astype(float))
        if mask.sum() < 2:
            mask[0, :] = 1
        tok = torch.tensor(np.where(rng.random((B, T)) < 0.4, rng.normal(0, 1, (B, T)), 0.0))
        gamma = [1.0, 0.9][variant % 2]
        adv, ret = core.compute_reinforce_plus_plus_outcome_advantage(token_level_rewards=tok, response_mask=mask,
                                                                      config=AlgoConfig(gamma=gamma))
        cases.append({"name": f"reinforce++ {variant} gamma={gamma}" + (" observation spans" if variant >= 6 else ""),
                      "framework": "verl", "commit": commit, "function": "compute_reinforce_plus_plus_outcome_advantage",
                      "B": B, "T": T, "gamma": gamma, "token_rewards": flat(tok), "mask": [int(x) for x in flat(mask)],
                      "expected": [num(x) for x in flat(adv)],
                      "returns": [num(x) for x in flat(ret)]})
    return cases


# ---------------------------------------------------------------------------------------------------------------
# TRL


class _Acc:
    """One process: what accelerate's Accelerator gives _compute_loss there."""

    num_processes = 1
    sync_gradients = False

    @staticmethod
    def reduce(t, reduction="sum"):
        return t

    @staticmethod
    def gather(t):
        return t

    gather_for_metrics = gather


def trl_loss_cases(compute_loss, commit, rng):
    cases = []
    for loss_type in ["dapo", "bnpo", "grpo", "dr_grpo"]:
        for level in ["token", "sequence"]:
            for kind in ["normal", "clamps", "ratio_one", "wide"]:
                for beta in [0.0, 0.04]:
                    B, T = int(rng.integers(1, 6)), int(rng.integers(1, 8))
                    mask = ragged_mask(rng, B, T, empty_rows=int(rng.integers(0, 2)) if B > 1 else 0)
                    if kind == "clamps":  # TRL has no clamps: keep exp finite, still far outside the clip range
                        kind = "wide"
                    cases.append(trl_loss_case(compute_loss, commit, rng, loss_type, level, kind, beta, B, T, mask))
    return cases


def trl_loss_case(compute_loss, commit, rng, loss_type, level, kind, beta, B, T, mask, eps=(0.2, 0.2)):
    lp0, old, adv, ref = loss_inputs(rng, B, T, kind)
    adv_seq = adv[:, 0].clone()
    lp = lp0.detach().clone().requires_grad_(True)
    max_len = T + int(rng.integers(0, 3))
    n_items = float(mask.sum() + rng.integers(0, 5))

    class _Self:
        pass

    s = _Self()
    s.top_entropy_quantile = 1.0
    s.off_policy_mask_threshold = None
    s.importance_sampling_level = level
    s.beta = beta
    s.loss_type = loss_type
    s.epsilon_low, s.epsilon_high = eps
    s.args = types.SimpleNamespace(delta=None, use_bias_correction_kl=False)
    s.use_vllm = False
    s.vllm_importance_sampling_correction = False
    s.model = types.SimpleNamespace(training=True)
    s.current_gradient_accumulation_steps = 1
    s.max_completion_length = max_len
    s.accelerator = _Acc()
    s.aux_loss_enabled = False
    s._entropy_bonus_enabled = False
    s._metrics = {"train": _Metrics()}
    s._get_per_token_logps_and_entropies = lambda *a, **k: (lp, torch.zeros_like(lp), None)
    s.get_high_entropy_mask = None
    inputs = {"prompt_ids": torch.zeros((B, 1), dtype=torch.long), "prompt_mask": torch.ones((B, 1), dtype=F64),
              "completion_ids": torch.zeros((B, T), dtype=torch.long), "completion_mask": mask,
              "advantages": adv_seq, "old_per_token_logps": old, "num_items_in_batch": torch.tensor(n_items, dtype=F64),
              "ref_per_token_logps": ref}
    loss = compute_loss(s, None, inputs)
    grad = torch.autograd.grad(loss, lp)[0]
    # TRL's clip-ratio metrics are float32 means (`.float()` of the flags), and where the completion length is 1 it
    # takes them for per-sequence values (x.shape[1] == 1) and averages over all rows, masked ones included: they are
    # kept for token-level runs with T > 1, to be compared to float32 precision.
    m = s._metrics["train"]
    stats = {k.replace("clip_ratio/", "clip_ratio_").replace("_mean", ""): num(m[k][0]) for k in
             ["clip_ratio/low_mean", "clip_ratio/high_mean", "clip_ratio/region_mean"]} if level == "token" and T > 1 else {}
    return {"name": f"{loss_type} {level} {kind} beta={beta}", "framework": "trl", "commit": commit,
            "function": "GRPOTrainer._compute_loss", "rows": B, "cols": T,
            "log_probs": flat(lp0), "old_log_probs": flat(old), "sequence_advantages": flat(adv_seq),
            "mask": flat(mask), "ref_log_probs": flat(ref),
            "options": {"loss_type": loss_type, "importance_sampling_level": level, "beta": beta,
                        "epsilon": eps[0], "epsilon_high": eps[1], "max_completion_length": max_len,
                        "num_items_in_batch": n_items},
            "expected": {"loss": num(loss), "grad": [num(g) for g in flat(grad)], "stats": stats,
                         "stats_tolerance": 2 ** -23}}


class _Metrics(dict):
    """TRL's self._metrics[mode]: a defaultdict of lists; the generator keeps what _compute_loss logs unread."""

    def __missing__(self, k):
        self[k] = []
        return self[k]


# ---------------------------------------------------------------------------------------------------------------


def write(path, payload):
    with open(path, "w") as f:
        json.dump(payload, f, separators=(",", ":"), allow_nan=False)
        f.write("\n")
    print(f"{path}: {len(payload['cases'])} cases, {os.path.getsize(path) // 1024} KiB")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--verl", required=True, help="verl source tree")
    ap.add_argument("--verl-commit")
    ap.add_argument("--preset", choices=["verl", "verl_2026_01"], default="verl",
                    help="the library preset the vectors check: verl (every family, files verl_*.json) or "
                         "verl_2026_01 (the families that existed at b178a3cd, files verl_2026_01_*.json)")
    ap.add_argument("--trl", help="TRL source tree")
    ap.add_argument("--trl-commit")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "data"))
    ap.add_argument("--seed", type=int, default=20260822)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    prefix = "verl_" if a.preset == "verl" else "verl_2026_01_"

    def out(family, cases):
        write(os.path.join(a.out, f"{prefix}{family}.json"), {"framework": "verl", "commit": vc, "cases": cases})

    core = load_verl(a.verl)
    vc = commit_of(a.verl, a.verl_commit)
    out("policy_loss", verl_loss_cases(core, vc, rng))
    out("grpo_advantages", verl_advantage_cases(core, vc, rng))
    # Each family below has a generator of its own, so that adding one leaves the others' files as they were.
    out("loss_helpers", verl_helper_cases(core, vc, np.random.default_rng(a.seed + 1)))
    out("rollout_correction",
        verl_rollout_corr_cases(load_verl_rollout_corr(a.verl), vc, np.random.default_rng(a.seed + 2),
                                icepop=a.preset == "verl"))
    out("baseline_advantages", verl_baseline_cases(core, vc, np.random.default_rng(a.seed + 1)))
    out("token_weights", verl_token_weight_cases(core, vc, np.random.default_rng(a.seed + 1)))
    if a.preset == "verl":
        # Families of the current conventions only (token-sum and the "+" KL names raise at b178a3cd).
        out("batch_modes", verl_batch_mode_cases(core, vc, np.random.default_rng(a.seed + 3)))
        out("conventions", verl_convention_cases(core, vc, np.random.default_rng(a.seed + 4)))
        out("group_advantages", verl_group_advantage_cases(core, vc, np.random.default_rng(a.seed + 5)))
        out("dppo", verl_dppo_cases(core, vc, np.random.default_rng(a.seed + 6)))
    if a.trl:
        tc = commit_of(a.trl, a.trl_commit)
        write(os.path.join(a.out, "trl_policy_loss.json"),
              {"framework": "trl", "commit": tc, "cases": trl_loss_cases(load_trl_compute_loss(a.trl), tc, rng)})


if __name__ == "__main__":
    main()

# SPDX-License-Identifier: Apache-2.0
"""The benchmark inputs, rebuilt with numpy element for element as bench/common.hpp builds them in C++.

The generator is counter-based: value = f(seed, stream, index), splitmix64's finaliser on 64-bit words, so both
languages produce the same bits without sharing a file. Keep this file and bench/common.hpp in step.
"""
import numpy as np

SEED = 20260131
MASK64 = (1 << 64) - 1
S_LOG_PROBS, S_OLD, S_REF, S_LENGTH, S_SEQ_ADV, S_DIFFICULTY, S_CORRECT, S_FORMAT = 1, 2, 4, 6, 7, 9, 10, 11


def _mix_int(z):
    z = (z + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def _mix(z):
    """splitmix64's finaliser on a uint64 array (numpy wraps modulo 2**64, as C++ does)."""
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def uniform(stream, index):
    """Uniform in (0, 1), 53 bits: the index-th draws of the stream (index: uint64 array)."""
    base = np.uint64(_mix_int(SEED ^ ((stream * 0xD1B54A32D192ED03) & MASK64)))
    with np.errstate(over="ignore"):
        bits = _mix(index.astype(np.uint64) + base) >> np.uint64(11)
    return (bits.astype(np.float64) + 0.5) * 2.0**-53


def noise(stream, index):
    """Zero mean, unit variance: (u1 + u2 - 1) * sqrt(6)."""
    return (uniform(stream, index) + uniform(stream + 1, index) - 1.0) * np.sqrt(6.0)


def token_batch(rows, cols):
    """log_probs, old_log_probs, ref_log_probs (float32 [B, T]), mask (uint8 [B, T]), sequence advantages (float32 [B])."""
    i = np.arange(rows, dtype=np.uint64)
    min_len = max(1, cols // 8)
    span = float(cols - min_len + 1)
    lengths = np.minimum(cols, min_len + np.floor(uniform(S_LENGTH, i) * span).astype(np.int64))
    seq_adv = noise(S_SEQ_ADV, i).astype(np.float32)
    k = np.arange(rows * cols, dtype=np.uint64)
    lp = (0.5 * np.log(uniform(S_LOG_PROBS, k))).astype(np.float32)
    lp64 = lp.astype(np.float64)
    old = (lp64 + 0.1 * noise(S_OLD, k)).astype(np.float32)
    ref = (lp64 + 0.1 * noise(S_REF, k)).astype(np.float32)
    mask = (np.arange(cols)[None, :] < lengths[:, None]).astype(np.uint8)
    shape = (rows, cols)
    return lp.reshape(shape), old.reshape(shape), ref.reshape(shape), mask, seq_adv


def group_rewards(completions, group_size):
    """Correctness in {0, 1} with a per-prompt difficulty p ~ U(0, 1), plus a 0.1 format bonus 90% of the time."""
    j = np.arange(completions, dtype=np.uint64)
    p = uniform(S_DIFFICULTY, j // np.uint64(group_size))
    correct = (uniform(S_CORRECT, j) < p).astype(np.float64)
    fmt = np.where(uniform(S_FORMAT, j) < 0.9, 0.1, 0.0)
    return (correct + fmt).astype(np.float32)

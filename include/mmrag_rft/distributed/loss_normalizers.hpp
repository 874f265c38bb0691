// SPDX-License-Identifier: Apache-2.0
// The global normalisers of the policy loss (N_tokens, N_seqs, the sum-norm constant) over every rank and micro
// batch of a step, from one small collective, and the options each micro-batch's `policy_loss` call takes.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/matrix_view.hpp>
#include <mmrag_rft/distributed/communicator.hpp>
#include <mmrag_rft/distributed/option_agreement.hpp>
#include <mmrag_rft/losses/options.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace mmrag_rft {

/// How the data-parallel wrapper reduces the ranks' gradients.
enum class gradient_reduction : std::uint8_t {
  sum,  ///< the gradients are summed (an all-reduce with SUM; Horovod / a hand-written all-reduce).
  mean, ///< the gradients are averaged over the ranks (PyTorch DDP, FSDP): each rank's loss is multiplied by the
        ///< number of ranks, verl's `dp_size` convention (loss_scale_factor * dp_size under global batch info).
};

/// The counts of one optimiser step over every rank and micro-batch.
struct global_loss_normalizers {
  double tokens = 0;     ///< valid tokens (mask != 0)
  double sequences = 0;  ///< rows with at least one valid token (rows without any do not count, as in policy_loss)
  double max_length = 0; ///< the longest padded length of any micro-batch: the whole batch padded to its widest
  int ranks = 1;         ///< the data-parallel size
};

namespace detail {
/// The counts, gathered with the options' fingerprint when `fingerprint` is given.
template <Communicator C>
[[nodiscard]] global_loss_normalizers step_loss_normalizers_checked(const C& comm,
                                                                    std::span<const mask_view> micro_batches,
                                                                    const std::int64_t* fingerprint) {
  std::int64_t mine[4] = {0, 0, 0, fingerprint ? *fingerprint : 0};
  for (const mask_view& m : micro_batches) {
    for (std::size_t i = 0; i < m.rows(); ++i) {
      const std::span<const std::uint8_t> row = m.row(i);
      const auto valid =
          static_cast<std::int64_t>(std::count_if(row.begin(), row.end(), [](std::uint8_t v) { return v != 0; }));
      mine[0] += valid;
      mine[1] += valid > 0;
    }
    mine[2] = std::max(mine[2], static_cast<std::int64_t>(m.cols()));
  }
  const auto p = static_cast<std::size_t>(comm.size());
  const std::size_t stride = fingerprint ? 4 : 3;
  std::vector<std::int64_t> all(stride * p);
  comm.all_gather(std::span<const std::int64_t>(mine, stride), std::span<std::int64_t>(all));
  if (fingerprint) require_agreed_fingerprints("step_loss_normalizers", "options", all, stride, 3);
  global_loss_normalizers n;
  std::int64_t tokens = 0, sequences = 0, longest = 0;
  for (std::size_t r = 0; r < p; ++r)
    tokens += all[stride * r], sequences += all[stride * r + 1], longest = std::max(longest, all[stride * r + 2]);
  n.tokens = static_cast<double>(tokens), n.sequences = static_cast<double>(sequences);
  n.max_length = static_cast<double>(longest);
  n.ranks = comm.size();
  return n;
}
} // namespace detail

/// Counts the valid tokens, the rows with a valid token and the padded length of this rank's micro-batches (their
/// masks), and combines them over the ranks with one all-gather of three int64 per rank. Every rank must call it.
template <Communicator C>
[[nodiscard]] global_loss_normalizers step_loss_normalizers(const C& comm, std::span<const mask_view> micro_batches) {
  return detail::step_loss_normalizers_checked(comm, micro_batches, nullptr);
}

/// `step_loss_normalizers(comm, micro_batches)` that also checks, in the same all-gather (one more int64 per rank),
/// that every rank passes the same loss options and gradient reduction: when not, every rank throws the same
/// `mmrag_rft::error` ("step_loss_normalizers", "options"). Then `micro_batch_loss_options(options, n, reduction)`.
template <Communicator C>
[[nodiscard]] global_loss_normalizers step_loss_normalizers(const C& comm, std::span<const mask_view> micro_batches,
                                                            const policy_loss_options& options,
                                                            gradient_reduction reduction = gradient_reduction::sum) {
  const std::int64_t f =
      detail::option_fingerprint{}.add(static_cast<std::uint64_t>(options_fingerprint(options))).add(reduction).value();
  return detail::step_loss_normalizers_checked(comm, micro_batches, &f);
}

/// The options of every micro-batch's `policy_loss` call in the step, so that the sum of their gradients over the
/// micro-batches and ranks (reduced as `reduction` says) is the gradient of the single-process loss of the whole
/// batch: `normalizer` is the global N_tokens (token_mean), N_seqs (seq_mean_*) or, for seq_mean_token_sum_norm, the
/// constant `base.normalizer` when given, else the whole batch's padded length; with `gradient_reduction::mean` the
/// loss scale is multiplied by the number of ranks. A step without valid tokens keeps the local rule (loss 0).
[[nodiscard]] inline policy_loss_options
micro_batch_loss_options(policy_loss_options base, const global_loss_normalizers& n,
                         gradient_reduction reduction = gradient_reduction::sum) {
  detail::require(n.ranks >= 1, "micro_batch_loss_options", "normalizers.ranks", "must be >= 1");
  switch (base.effective_aggregation()) {
  case loss_aggregation::token_mean:
    if (n.tokens > 0) base.normalizer = n.tokens;
    break;
  case loss_aggregation::seq_mean_token_sum:
  case loss_aggregation::seq_mean_token_mean:
    if (n.sequences > 0) base.normalizer = n.sequences;
    break;
  case loss_aggregation::seq_mean_token_sum_norm:
    if (!base.normalizer && n.max_length > 0) base.normalizer = n.max_length;
    if (base.sum_norm_seq_mean && !base.sum_norm_sequences && n.sequences > 0) base.sum_norm_sequences = n.sequences;
    break;
  case loss_aggregation::token_sum: break; // a plain sum needs no normaliser
  }
  if (reduction == gradient_reduction::mean) base.loss_scale *= static_cast<double>(n.ranks);
  return base;
}

} // namespace mmrag_rft

// SPDX-License-Identifier: Apache-2.0
// The CPU policy-loss row kernels for float and double, defined once: what the `mmrag_rft::kernels` target compiles.
// A project without that target includes this in exactly one translation unit and defines
// MMRAG_RFT_EXTERN_LOSS_KERNELS in all the others (docs/algorithms.md, "Compile time").
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/backends/cpu/policy_loss.hpp>

namespace mmrag_rft::detail {
inline namespace MMRAG_RFT_DETAIL_KERNELS_ABI {
template struct loss_kernel<float>;
template struct loss_kernel<double>;
} // namespace MMRAG_RFT_DETAIL_KERNELS_ABI
} // namespace mmrag_rft::detail

// SPDX-License-Identifier: Apache-2.0
// The `mmrag_rft::kernels` library: the CPU policy-loss row kernels for float, compiled once (float and double are
// two translation units, so that they compile side by side). Consumers that link it see
// MMRAG_RFT_EXTERN_LOSS_KERNELS and leave these instantiations to it.
#include <mmrag_rft/backends/cpu/policy_loss.hpp>

namespace mmrag_rft::detail {
inline namespace MMRAG_RFT_DETAIL_KERNELS_ABI {
template struct loss_kernel<float>;
} // namespace MMRAG_RFT_DETAIL_KERNELS_ABI
} // namespace mmrag_rft::detail

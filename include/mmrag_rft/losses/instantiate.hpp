// SPDX-License-Identifier: Apache-2.0
// Include in exactly one translation unit of a program that defines MMRAG_RFT_EXTERN_LOSS_KERNELS elsewhere: it
// compiles the CPU policy-loss kernels for float and double once, instead of in every translation unit that calls
// policy_loss (docs/algorithms.md, "Compile time"). Harmless without the macro: the kernels are then compiled here
// as well as wherever they are used, and the linker keeps one copy.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/losses/policy_loss.hpp>

namespace mmrag_rft::detail {
template struct loss_kernel<float>;
template struct loss_kernel<double>;
} // namespace mmrag_rft::detail

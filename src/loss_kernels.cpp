// SPDX-License-Identifier: Apache-2.0
// The `mmrag_rft::kernels` library: the CPU policy-loss row kernels for float and double, compiled once. Consumers
// that link it see MMRAG_RFT_EXTERN_LOSS_KERNELS and leave these instantiations to it.
#include <mmrag_rft/losses/instantiate.hpp>

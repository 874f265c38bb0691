// SPDX-License-Identifier: Apache-2.0
// The CPU policy-loss kernels of every test executable, compiled once (tests/CMakeLists.txt).
#include <mmrag_rft/losses/instantiate.hpp>

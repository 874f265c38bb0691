// SPDX-License-Identifier: Apache-2.0
// Execution backends that need no optional dependency: exec::seq and exec::par.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/backends/cpu.hpp>

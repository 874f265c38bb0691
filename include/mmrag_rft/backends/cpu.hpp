// SPDX-License-Identifier: Apache-2.0
// The CPU backends together; what the CPU algorithm implementations include.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/backends/concepts.hpp>
#include <mmrag_rft/backends/par.hpp>
#include <mmrag_rft/backends/seq.hpp>

// SPDX-License-Identifier: Apache-2.0
// Every part's umbrella in one translation unit, the loaders and evaluator included: two parts defining the same
// internal name (as data/ and pipeline/ once both defined detail::splitmix64) fail to compile here.
#include <mmrag_rft/mmrag_rft.hpp>
#include <mmrag_rft/data.hpp>
#include <mmrag_rft/eval.hpp>
int all_parts_helper() { return mmrag_rft::group_layout::uniform(1, 1).num_items() == 1 ? 0 : 1; }

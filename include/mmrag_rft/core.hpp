// SPDX-License-Identifier: Apache-2.0
// Core types: errors, matrix views and masks (with masked reductions), group layouts, documents, samples, completions.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/document.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/group_layout.hpp>
#include <mmrag_rft/core/masked_reduce.hpp>
#include <mmrag_rft/core/matrix_view.hpp>
#include <mmrag_rft/core/response_mask.hpp>
#include <mmrag_rft/core/sample.hpp>

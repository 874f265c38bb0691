// SPDX-License-Identifier: Apache-2.0
// mmrag_rft: everything that needs no optional dependency (no CUDA, no JSON, no LibTorch).
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages.hpp>
#include <mmrag_rft/backends.hpp>
#include <mmrag_rft/core.hpp>
#include <mmrag_rft/losses.hpp>

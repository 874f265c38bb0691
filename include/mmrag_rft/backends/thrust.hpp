// SPDX-License-Identifier: Apache-2.0
// The Thrust backend, `exec::thrust`: every advantage estimator, the policy loss and response masks over device
// pointers, on whatever system THRUST_DEVICE_SYSTEM selects (CUDA with nvcc; CPP, OMP or TBB with g++). Include it
// explicitly, with the algorithms' headers; never from an umbrella header. No Eigen or range-v3 is reachable from
// here (CUDA translation units include it).
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/backends/thrust/backend.hpp>          // IWYU pragma: export
#include <mmrag_rft/backends/thrust/baselines.hpp>        // IWYU pragma: export
#include <mmrag_rft/backends/thrust/gdpo.hpp>             // IWYU pragma: export
#include <mmrag_rft/backends/thrust/grpo.hpp>             // IWYU pragma: export
#include <mmrag_rft/backends/thrust/policy_loss.hpp>      // IWYU pragma: export
#include <mmrag_rft/backends/thrust/response_mask.hpp>    // IWYU pragma: export
#include <mmrag_rft/backends/thrust/token_estimators.hpp> // IWYU pragma: export

// SPDX-License-Identifier: Apache-2.0
// Every CUDA entry point of mmrag_rft (namespace mmrag_rft::gpu). nvcc only; never included by an umbrella header.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/backends/cuda/backend.cuh>
#include <mmrag_rft/backends/cuda/grpo.cuh>
#include <mmrag_rft/backends/cuda/launch.cuh>
#include <mmrag_rft/backends/cuda/policy_loss.cuh>
#include <mmrag_rft/backends/cuda/token_logprobs.cuh>
#include <mmrag_rft/backends/cuda/tuning.cuh>

// SPDX-License-Identifier: Apache-2.0
// The LibTorch adapter: the library's logit and loss kernels as autograd functions on torch::Tensor, GRPO
// advantages of a rewards tensor, and rewards and response masks as tensors. Needs LibTorch (link `torch`); not part
// of <mmrag_rft/mmrag_rft.hpp>.
#pragma once
#include <mmrag_rft/torch/advantages.hpp>
#include <mmrag_rft/torch/device.hpp>
#include <mmrag_rft/torch/policy_loss.hpp>
#include <mmrag_rft/torch/response_mask.hpp>
#include <mmrag_rft/torch/rewards.hpp>
#include <mmrag_rft/torch/token_logprobs.hpp>

// SPDX-License-Identifier: Apache-2.0
// The LibTorch adapter: the library's logit and loss kernels as autograd functions on torch::Tensor, and GRPO
// advantages of a rewards tensor. Needs LibTorch (link `torch`); not part of <mmrag_rft/mmrag_rft.hpp>.
#pragma once
#include <mmrag_rft/torch/advantages.hpp>
#include <mmrag_rft/torch/policy_loss.hpp>
#include <mmrag_rft/torch/token_logprobs.hpp>

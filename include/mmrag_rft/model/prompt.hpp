// SPDX-License-Identifier: Apache-2.0
// What a policy is asked to continue: prompt text with image placeholders, and the images they stand for.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/document.hpp>

#include <memory>
#include <string>
#include <vector>

namespace mmrag_rft {

/// One prompt of a rollout: text in which each occurrence of `image_placeholder` stands for the next entry of
/// `images`, in order (the convention of LLaVA-style chat templates). The model decides how an image enters its
/// token stream (prefix embeddings, patches, a caption); the pipeline only keeps text and pixels together.
struct prompt {
  static constexpr const char* image_placeholder = "<image>";
  std::string text;
  std::vector<std::shared_ptr<const image_data>> images; ///< May hold null entries for image documents without pixels.
};

/// A batch of prompts, one per group of completions.
using prompt_batch = std::vector<prompt>;

} // namespace mmrag_rft

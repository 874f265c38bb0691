// SPDX-License-Identifier: Apache-2.0
// A candidate document of multi-modal RAG: an image with its caption, a text snippet, or a table.
#pragma once
#include <mmrag_rft/config.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mmrag_rft {

/// The kind of a candidate document.
enum class modality : std::uint8_t { text, image, table };

[[nodiscard]] constexpr std::string_view to_string(modality m) noexcept {
  switch (m) {
  case modality::text: return "text";
  case modality::image: return "image";
  case modality::table: return "table";
  }
  return "unknown";
}

/// Pixels or features attached to an image document by the caller (a loader leaves it empty; a model fills it).
/// Pixels are row-major `height * width * channels` bytes; features are whatever embedding the model uses.
struct image_data {
  std::size_t width = 0;
  std::size_t height = 0;
  std::size_t channels = 0;
  std::vector<std::uint8_t> pixels;
  std::vector<float> features;
};

/// One candidate document. `text` holds a snippet's fact, an image's caption, or a linearised table.
struct document {
  std::string id; ///< Dataset id: WebQA `image_id` (as text) or `snippet_id`, MultimodalQA doc id.
  modality kind = modality::text;
  std::string title;
  std::string text;
  std::string url;
  std::shared_ptr<const image_data> image; ///< Optional pixels/features of an image document; shared, never copied.
};

} // namespace mmrag_rft

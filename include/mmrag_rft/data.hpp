// SPDX-License-Identifier: Apache-2.0
// mmrag_rft data part: the WebQA and MultimodalQA loaders. Needs nlohmann-json (header-only, Debian
// nlohmann-json3-dev): link nlohmann_json::nlohmann_json. Deliberately not included by <mmrag_rft/mmrag_rft.hpp>.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/data/file_error.hpp>
#include <mmrag_rft/data/gold_format.hpp>
#include <mmrag_rft/data/mmqa.hpp>
#include <mmrag_rft/data/mmqa_dataset.hpp>
#include <mmrag_rft/data/webqa.hpp>

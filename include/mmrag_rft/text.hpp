// SPDX-License-Identifier: Apache-2.0
// Total parsers of model output: answer normalisation, tag sections, relevance verdicts, ranking lists.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/text/label_scheme.hpp>
#include <mmrag_rft/text/normalize.hpp>
#include <mmrag_rft/text/ranking.hpp>
#include <mmrag_rft/text/relevance.hpp>
#include <mmrag_rft/text/sections.hpp>

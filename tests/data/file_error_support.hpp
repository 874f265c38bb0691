// SPDX-License-Identifier: Apache-2.0
// Shared by the data and eval tests: catch the file_error a call throws.
#pragma once
#include <mmrag_rft/data/file_error.hpp>

#include <doctest/doctest.h>

#include <string>

namespace mmrag_rft::test {

#ifdef MMRAG_RFT_DATA_FILES
/// The folder of the data tests' files (set by tests/data/CMakeLists.txt).
inline const std::string files = MMRAG_RFT_DATA_FILES;
#endif

/// Runs `f` and returns the file_error it throws; fails the test if it throws nothing.
template <class F>
file_error error_of(F&& f) {
  try {
    f();
  } catch (const file_error& e) {
    return e;
  }
  FAIL("no file_error thrown");
  return file_error("", "", 0, 0, "", "", "");
}

} // namespace mmrag_rft::test

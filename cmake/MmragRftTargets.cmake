# SPDX-License-Identifier: Apache-2.0
# Helpers for the project's own tests, examples, benchmarks and fuzzers (never installed).

# Warnings and sanitizers for a target of ours.
function(mmrag_rft_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion -Wno-missing-field-initializers)
  if(MMRAG_RFT_SANITIZE)
    string(REPLACE ";" "," san "${MMRAG_RFT_SANITIZE}")
    target_compile_options(${target} PRIVATE -fsanitize=${san} -fno-sanitize-recover=all -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=${san} -fno-sanitize-recover=all)
    # The AVX2 / AVX-512 versions of the hot kernels are the baseline's force-inlined body under other target
    # attributes: the sanitizers check that body once, and the ci preset checks the versions bitwise against it.
    # Compiling all three under ASan tripled the longest test's build (about 15 minutes on 2 cores).
    target_compile_definitions(${target} PRIVATE MMRAG_RFT_NO_ISA_DISPATCH)
  endif()
endfunction()

# mmrag_rft_add_test(NAME <part> SOURCES <files...> [LIBS <targets...>] [DEFINITIONS <macros...>]
#                    [BITWISE_KERNELS] [SERIAL])
# One doctest executable per part, named mmrag_rft.<part>, registered with ctest through doctest_discover_tests.
# BITWISE_KERNELS: link the loss kernels compiled with MMRAG_RFT_ISA_BITWISE (mmrag_rft_kernels_bitwise, which
# brings the definition) instead of mmrag_rft::kernels.
function(mmrag_rft_add_test)
  cmake_parse_arguments(arg "SERIAL;BITWISE_KERNELS" "NAME" "SOURCES;LIBS;DEFINITIONS" ${ARGN})
  set(target mmrag_rft.${arg_NAME})
  add_executable(${target} ${arg_SOURCES})
  # A part's test files share their heavy headers: compiled as one translation unit, they parse and instantiate
  # them once (a part of eight files built in a third of the time on 2 cores).
  set_target_properties(${target} PROPERTIES UNITY_BUILD ${MMRAG_RFT_UNITY_TESTS} UNITY_BUILD_BATCH_SIZE 0)
  set(kernels mmrag_rft::kernels)
  if(arg_BITWISE_KERNELS)
    set(kernels mmrag_rft_kernels_bitwise)
  endif()
  if(NOT MMRAG_RFT_KERNELS)
    # Without the compiled kernels every program instantiates its own (header-only use).
    set(kernels "")
    if(arg_BITWISE_KERNELS)
      list(APPEND arg_DEFINITIONS MMRAG_RFT_ISA_BITWISE)
    endif()
  endif()
  target_link_libraries(${target} PRIVATE mmrag_rft::mmrag_rft mmrag_rft_test_support mmrag_rft_doctest_main
                                          ${kernels} ${arg_LIBS})
  if(arg_DEFINITIONS)
    target_compile_definitions(${target} PRIVATE ${arg_DEFINITIONS})
  endif()
  mmrag_rft_target_defaults(${target})
  set(props "")
  if(arg_SERIAL)
    set(props PROPERTIES RUN_SERIAL TRUE)
  endif()
  doctest_discover_tests(${target} TEST_PREFIX "${arg_NAME}: " ${props})
endfunction()

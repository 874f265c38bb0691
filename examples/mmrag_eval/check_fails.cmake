# SPDX-License-Identifier: Apache-2.0
# cmake -DEXE=... -DARGS="a;b" -DEXPECT=regex -P check_fails.cmake: passes when EXE exits non-zero and its stderr
# matches EXPECT (ctest alone cannot check both the exit status and the output).
execute_process(COMMAND ${EXE} ${ARGS} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "expected a non-zero exit, got 0; stdout: ${out}")
endif()
if(NOT err MATCHES "${EXPECT}")
  message(FATAL_ERROR "stderr does not match '${EXPECT}': ${err}")
endif()
message(STATUS "exit ${rc}: ${err}")

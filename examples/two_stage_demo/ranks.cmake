# SPDX-License-Identifier: Apache-2.0
# Runs the demo's smoke configuration on one process and on two data-parallel processes (scripts/run-ranks.sh) and
# checks that they agree (compare_runs.py): the same completions and rewards at every step, the same held-out
# numbers, the loss terms within the bound docs/demo.md states (the ranks' gradients add in another float order).
# ctest script; see CMakeLists.txt.
file(REMOVE_RECURSE ${OUT})
set(args --smoke --data ${DATA} --threads 1 --entropy-coeff 0.001 ${EXTRA})
execute_process(COMMAND ${DEMO} ${args} --out ${OUT}/one RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "two_stage_demo on one rank exited with ${rc}")
endif()
execute_process(COMMAND bash ${RUN_RANKS} 2 ${DEMO} ${args} --out ${OUT}/two RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "two_stage_demo on two ranks exited with ${rc}")
endif()
execute_process(COMMAND ${PYTHON} ${COMPARE} ${OUT}/one ${OUT}/two --loss-rtol ${LOSS_RTOL} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the two-rank run does not agree with the one-rank run (compare_runs.py exited with ${rc})")
endif()

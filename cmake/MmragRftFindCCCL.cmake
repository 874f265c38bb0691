# SPDX-License-Identifier: Apache-2.0
# Where CCCL (Thrust, CUB, libcu++) is looked for: by this project's build and by the installed package config, so
# that both find the same copy. It comes with the CUDA toolkit; looking for it runs no compiler, so a C++-only
# project may use the Thrust CPP / OMP systems without nvcc. mmrag_rft_find_cccl([QUIET|REQUIRED]) sets CCCL_FOUND.
macro(mmrag_rft_find_cccl)
  set(mmrag_rft_cccl_hints "")
  if(CUDAToolkit_LIBRARY_DIR)
    list(APPEND mmrag_rft_cccl_hints "${CUDAToolkit_LIBRARY_DIR}/cmake")
  endif()
  if(CMAKE_CUDA_COMPILER)
    get_filename_component(mmrag_rft_cuda_root "${CMAKE_CUDA_COMPILER}" DIRECTORY)
    list(APPEND mmrag_rft_cccl_hints "${mmrag_rft_cuda_root}/../lib64/cmake")
  endif()
  list(APPEND mmrag_rft_cccl_hints /usr/local/cuda/lib64/cmake)
  find_package(CCCL CONFIG ${ARGN} HINTS ${mmrag_rft_cccl_hints})
endmacro()

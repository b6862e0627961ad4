# The CUDA emulator build (docs/cuda-emulator.md): the kernel sources of kernels/ (and the test
# kernels of tests/kernels/) compiled by the host C++ compiler and run on the CPU. Needs the CUDA
# headers (cuda_runtime.h, cuda_bf16.h compile as host C++) and Boost.Context, not nvcc.
# Defines DARTGOLF_WITH_EMULATOR, the tool dg_emu_prepare, the library dartgolf_cuda_emu and the
# function dg_emu_prepare_sources().

find_path(DG_CUDA_INCLUDE_DIR cuda_runtime.h
  HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/local/cuda/include /usr/local/cuda/targets/x86_64-linux/include)
find_path(DG_BOOST_CONTEXT_INCLUDE_DIR boost/context/fiber.hpp)
find_library(DG_BOOST_CONTEXT_LIBRARY NAMES boost_context)

set(DARTGOLF_WITH_EMULATOR OFF)
if(NOT DG_CUDA_INCLUDE_DIR)
  set(DG_EMULATOR_MISSING "no CUDA headers (cuda_runtime.h; install the CUDA toolkit)")
elseif(NOT DG_BOOST_CONTEXT_INCLUDE_DIR OR NOT DG_BOOST_CONTEXT_LIBRARY)
  set(DG_EMULATOR_MISSING "no Boost.Context (Debian package libboost-context-dev; scripts/setup.sh installs it)")
else()
  set(DARTGOLF_WITH_EMULATOR ON)
endif()

if(NOT DARTGOLF_WITH_EMULATOR)
  if(DARTGOLF_CUDA STREQUAL "EMULATE")
    message(FATAL_ERROR "DARTGOLF_CUDA=EMULATE needs the CUDA emulator, which cannot be built: ${DG_EMULATOR_MISSING}")
  endif()
  message(WARNING "dartgolf: the CUDA emulator is not built: ${DG_EMULATOR_MISSING}. "
                  "The emulated kernel tests (ctest label emu) are left out.")
  return()
endif()
message(STATUS "dartgolf: CUDA emulator ON (CUDA headers in ${DG_CUDA_INCLUDE_DIR})")

# Rewrites static __shared__ declarations and checks the dialect (kernels/emu/source_rewrite.h).
add_executable(dg_emu_prepare ${CMAKE_SOURCE_DIR}/kernels/emu/tools/prepare_kernel_source.cpp
                              ${CMAKE_SOURCE_DIR}/kernels/emu/source_rewrite.cpp)
target_include_directories(dg_emu_prepare PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/kernels)
target_compile_options(dg_emu_prepare PRIVATE ${DG_WARNINGS})

# dg_emu_prepare_sources(<var> <folder>): a rule for each .cu and .cuh directly in <folder>
# (relative to the source tree) that writes its emulator version under emu_src/<folder>/ in the
# build tree (x.cu -> x.cu.cpp, x.cuh -> x.cuh). <var> receives the .cu.cpp files to compile and
# <var>_ALL every prepared file. Quoted includes resolve next to the prepared file first, so a
# prepared .cu includes the prepared .cuh of its folder.
function(dg_emu_prepare_sources var folder)
  file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/${folder}/*.cu ${CMAKE_SOURCE_DIR}/${folder}/*.cuh)
  set(compiled)
  set(all)
  foreach(src ${sources})
    get_filename_component(name ${src} NAME)
    set(out ${CMAKE_BINARY_DIR}/emu_src/${folder}/${name})
    if(name MATCHES "\\.cu$")
      set(out ${out}.cpp)
      list(APPEND compiled ${out})
    endif()
    add_custom_command(OUTPUT ${out}
      COMMAND dg_emu_prepare ${src} ${out}
      DEPENDS dg_emu_prepare ${src}
      COMMENT "Preparing ${folder}/${name} for the CUDA emulator" VERBATIM)
    list(APPEND all ${out})
  endforeach()
  set(${var} ${compiled} PARENT_SCOPE)
  set(${var}_ALL ${all} PARENT_SCOPE)
endfunction()

dg_emu_prepare_sources(DG_EMU_KERNELS kernels)
add_custom_target(dg_emu_kernel_sources DEPENDS ${DG_EMU_KERNELS_ALL})
file(GLOB DG_EMU_RUNTIME_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/kernels/emu/*.cpp)

# The same symbols as dartgolf_cuda (nvcc) on the CPU: a binary links one or the other. Static, so
# each binary has one copy of the static __shared__ variables and of the emulator's state.
add_library(dartgolf_cuda_emu STATIC ${DG_EMU_KERNELS} ${DG_EMU_RUNTIME_SOURCES})
add_dependencies(dartgolf_cuda_emu dg_emu_kernel_sources)
target_include_directories(dartgolf_cuda_emu PUBLIC
  ${CMAKE_BINARY_DIR}/emu_src/kernels ${CMAKE_SOURCE_DIR}/kernels ${CMAKE_SOURCE_DIR}/src ${CBLAS_INCLUDE_DIR})
target_include_directories(dartgolf_cuda_emu SYSTEM PUBLIC ${DG_CUDA_INCLUDE_DIR} ${DG_BOOST_CONTEXT_INCLUDE_DIR})
target_compile_definitions(dartgolf_cuda_emu PUBLIC DARTGOLF_CUDA_EMULATED=1 DARTGOLF_WITH_CUDA=1)
target_compile_options(dartgolf_cuda_emu PRIVATE ${DG_WARNINGS})
target_compile_options(dartgolf_cuda_emu PUBLIC ${DG_ARCH_FLAGS})
target_link_libraries(dartgolf_cuda_emu PUBLIC dartgolf_lib ${DG_BOOST_CONTEXT_LIBRARY} ${OPENBLAS_LIBRARY})

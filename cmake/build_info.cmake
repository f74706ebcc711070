# Generates build_info.cpp at build time (not configure time) so the git
# commit recorded in results is the one the binary was built from.
# Semicolons would split the command line: pass the arch list comma-separated.
string(REPLACE ";" "," BTC_CUDA_ARCHS_CSV "${CMAKE_CUDA_ARCHITECTURES}")
set(BTC_BUILD_INFO_CPP ${CMAKE_BINARY_DIR}/generated/build_info.cpp)
add_custom_target(btc_build_info_gen
  COMMAND ${CMAKE_COMMAND}
    -DSRC_DIR=${CMAKE_SOURCE_DIR} -DOUT=${BTC_BUILD_INFO_CPP}
    -DCUDA_VERSION=${CMAKE_CUDA_COMPILER_VERSION}
    "-DCUDA_ARCHS=${BTC_CUDA_ARCHS_CSV}"
    "-DCOMPILER=${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION}"
    -P ${CMAKE_SOURCE_DIR}/cmake/write_build_info.cmake
  BYPRODUCTS ${BTC_BUILD_INFO_CPP}
  COMMENT "Recording git commit and build settings"
  VERBATIM)

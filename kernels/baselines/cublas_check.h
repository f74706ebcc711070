// Every cuBLAS call checked: a failure names the call, cuBLAS's status, file and line.
#pragma once
#include <cublas_v2.h>

#include <stdexcept>
#include <string>

namespace btc {

struct CublasError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline void cublas_check(cublasStatus_t st, const char* what, const char* file, int line) {
  if (st != CUBLAS_STATUS_SUCCESS)
    throw CublasError(std::string(what) + " failed: " + cublasGetStatusName(st) + " (" + cublasGetStatusString(st) +
                      ") at " + file + ":" + std::to_string(line));
}

}  // namespace btc

#define CUBLAS_CHECK(call) ::btc::cublas_check((call), #call, __FILE__, __LINE__)

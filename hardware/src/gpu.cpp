// Per-precision facts of a GPU: its dense tensor peak and the measured GEMM ceiling.
#include "gpuhours/hardware.hpp"

namespace gpuhours {

double peak_flops_per_s(const GpuSpec& gpu, Precision p) {
  const auto it = gpu.peak_flops_per_s.find(to_string(p));
  return it != gpu.peak_flops_per_s.end() ? it->second : gpu.peak_flops_per_s.at(to_string(Precision::bf16));
}

double achievable_gemm_fraction(const GpuSpec& gpu, Precision p) {
  return p == Precision::fp8 ? gpu.achievable.gemm_fp8 : gpu.achievable.gemm_bf16;
}

}  // namespace gpuhours

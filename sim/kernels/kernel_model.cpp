#include <algorithm>

#include "gpuhours/kernels.hpp"

namespace gpuhours {

KernelModel::KernelModel(const GpuSpec& gpu) : gpu_(gpu) {}

Time KernelModel::time(const Kernel& k) const {
  double peak = 0;
  if (k.kind == OpKind::gemm) {
    const auto it = gpu_.peak_flops_per_s.find(k.fp8 ? "fp8" : "bf16");
    peak = (it != gpu_.peak_flops_per_s.end() ? it->second : gpu_.peak_flops_per_s.at("bf16")) *
           (k.fp8 ? gpu_.achievable.gemm_fp8 : gpu_.achievable.gemm_bf16);
  } else if (k.kind == OpKind::attention) {
    peak = gpu_.peak_flops_per_s.at("bf16") *
           (k.backward ? gpu_.achievable.attention_bwd : gpu_.achievable.attention_fwd);
  }
  const double hbm = gpu_.hbm_bytes_per_s *
                     (k.kind == OpKind::memory ? gpu_.achievable.elementwise : gpu_.achievable.copy);
  const double compute_s = peak > 0 ? k.flops / peak : 0.0;
  const double memory_s = k.bytes / hbm;
  return Time::from_seconds_ceil(gpu_.kernel_launch_seconds + std::max(compute_s, memory_s));
}

Time KernelModel::optimizer_time(double params) const {
  return Time::from_seconds_ceil(gpu_.kernel_launch_seconds +
                                 30.0 * params / (gpu_.hbm_bytes_per_s * gpu_.achievable.copy));
}

std::vector<std::string> KernelModel::assumptions() const {
  return {"kernel times: roofline from " + gpu_.name +
          " catalogue peaks with measured per-class ceilings (no calibration profile yet)"};
}

}  // namespace gpuhours

#include <algorithm>
#include <cmath>
#include <limits>

#include <boost/math/distributions/normal.hpp>
#include <fmt/format.h>

#include "gpuhours/error.hpp"
#include "gpuhours/kernels.hpp"
#include "gpuhours/yaml.hpp"

namespace gpuhours {

KernelModel::KernelModel(const GpuSpec& gpu, const CalibrationProfile* profile, double time_scale, Clocks clocks)
    : gpu_(gpu),
      profile_(profile),
      scale_(time_scale),
      tensor_clock_(tensor_clock_ratio(profile, clocks)) {}

double tensor_clock_ratio(const CalibrationProfile* profile, Clocks clocks) {
  return profile && clocks == Clocks::sustained ? profile->sustained_clock_ratio : 1.0;
}

double expected_max_standard_normal(int n) {
  if (n <= 1) return 0.0;
  const double p = (n - 0.375) / (n + 0.25);
  return boost::math::quantile(boost::math::normal(), p);
}

double straggler_time_factor(const ClusterSpec& cluster) {
  if (!cluster.stragglers) return 1.0;
  return 1.0 + cluster.gpu.speed_variation * expected_max_standard_normal(cluster.gpus());
}

Time collective_jitter_wait(double variance_ns2, int ranks) {
  GPUHOURS_ASSERT(variance_ns2 >= 0 && ranks >= 1, "a variance and a group of ranks");
  return Time::ns(std::llround(expected_max_standard_normal(ranks) * std::sqrt(variance_ns2)));
}

KernelModel::KernelModel(const ClusterSpec& cluster, double time_scale)
    : KernelModel(cluster.gpu, cluster.calibration.get(), time_scale * straggler_time_factor(cluster), cluster.clocks) {
  if (!cluster.stragglers)
    stragglers_ = "stragglers: off, an ideal cluster (every GPU at the mean speed; stragglers: false)";
  else if (cluster.gpus() == 1)
    stragglers_ = "stragglers: none, one GPU waits for no other";
  else
    stragglers_ = fmt::format(
        "stragglers: each step waits for the slowest of {} GPUs: compute {:+.1f}% (per-GPU speed spread {:.1f}%, the "
        "largest of {} normal draws {:.2f} sigma above the mean)",
        cluster.gpus(), 100 * (straggler_time_factor(cluster) - 1), 100 * cluster.gpu.speed_variation, cluster.gpus(),
        expected_max_standard_normal(cluster.gpus()));
}

// An FP8 GEMM's quantization pass is a memory-bound kernel of its own, before the GEMM.
double KernelModel::unscaled_quantize_seconds(const Kernel& k) const {
  if (k.quantize_bytes <= 0) return 0.0;
  Kernel pass{OpKind::memory, 0, k.quantize_bytes};
  pass.kernels = k.quantize_kernels;
  pass.graphed = k.graphed;
  return unscaled_seconds(pass);
}

double gemm_slowdown_beside_comm(const ClusterSpec& cluster) {
  return cluster.slowdown_beside_comm ? cluster.gpu.slowdown_beside_comm : 0.0;
}

double kernel_jitter(const ClusterSpec& cluster) { return cluster.jitter ? cluster.gpu.kernel_jitter : 0.0; }

std::string slowdown_beside_comm_assumption(const ClusterSpec& cluster) {
  if (!cluster.slowdown_beside_comm)
    return "they keep their partition's rate beside communication kernels (slowdown_beside_comm: false)";
  if (cluster.gpu.slowdown_beside_comm <= 0)
    return "their slowdown while communication kernels run on the other SMs is not measured for this GPU (not simulated)";
  return fmt::format("while communication kernels run on the other SMs they lose {:.1f}% of their rate (the GPU's "
                     "slowdown_beside_comm: power under the same cap, the same HBM and L2; switch: slowdown_beside_comm: false)",
                     100 * cluster.gpu.slowdown_beside_comm);
}

double comm_sm_share(int sms, const GpuSpec& gpu) { return std::min(0.9, static_cast<double>(sms) / gpu.sms); }

Time KernelModel::time(const Kernel& k) const {
  return Time::from_seconds_ceil((unscaled_seconds(k) + unscaled_quantize_seconds(k)) * scale_);
}

Time KernelModel::quantize_time(const Kernel& k) const {
  return Time::from_seconds_ceil(unscaled_quantize_seconds(k) * scale_);
}

// The GPU's time between the kernels of a pass: a launch each, or the gap between kernels replayed
// from a graph.
double KernelModel::launch_gaps(const Kernel& k) const {
  GPUHOURS_ASSERT(!k.graphed || gpu_.graph_kernel_gap_seconds.has_value(),
                  "graphed kernels on a GPU without graph_kernel_gap (layout_infeasibility refuses them)");
  return (k.graphed ? *gpu_.graph_kernel_gap_seconds : gpu_.kernel_launch_seconds) * std::max(1, k.kernels);
}

double KernelModel::unscaled_seconds(const Kernel& k) const {
  if (profile_) {
    bool fitted = false;
    double seconds = 0;
    const double m = static_cast<double>(k.m), n = static_cast<double>(k.n), kk = static_cast<double>(k.k);
    if (k.kind == OpKind::gemm && m > 0 && n > 0 && kk > 0) {
      double rate;
      if (k.groups > 1 && !k.fp8 && !profile_->grouped_bf16.empty())
        rate = profile_->grouped_bf16.at({static_cast<double>(k.groups), m, n, kk}, &fitted);
      else rate = (k.fp8 ? profile_->gemm_fp8 : profile_->gemm_bf16).at({m, n, kk}, &fitted);
      seconds = std::max(k.flops / (rate * tensor_clock_), k.bytes / profile_->copy_bytes_per_s);
      if (fitted) outside_.insert(k.fp8 ? "FP8 GEMM" : "BF16 GEMM");
      return seconds;
    }
    if (k.kind == OpKind::attention && m > 0) {
      attention_.insert(k.library);
      const ThroughputTable& t = attention_table(k.library, k.backward);
      if (!t.empty()) {
        const double rate = t.at({m, n, kk}, &fitted);
        if (fitted) outside_.insert(k.library == AttentionKernel::flash_attention_2 ? "FlashAttention-2" : "attention");
        return std::max(k.flops / (rate * tensor_clock_), k.bytes / profile_->copy_bytes_per_s);
      }
    }
    if (k.kind == OpKind::memory) {
      return launch_gaps(k) + k.bytes / profile_->elementwise_bytes_per_s;
    }
    // GEMMs without a shape (unfused attention): the roofline below.
  }
  double peak = 0;
  if (k.kind == OpKind::gemm) {
    const Precision p = k.fp8 ? Precision::fp8 : Precision::bf16;
    peak = peak_flops_per_s(gpu_, p) * achievable_gemm_fraction(gpu_, p);
  } else if (k.kind == OpKind::attention) {
    peak = peak_flops_per_s(gpu_, Precision::bf16) * (k.backward ? gpu_.achievable.attention_bwd : gpu_.achievable.attention_fwd);
  }
  const double hbm = gpu_.hbm_bytes_per_s * (k.kind == OpKind::memory ? gpu_.achievable.elementwise : gpu_.achievable.copy);
  const double compute_s = peak > 0 ? k.flops / peak : 0.0;
  const double memory_s = k.bytes / hbm;
  return launch_gaps(k) + std::max(compute_s, memory_s);
}

const ThroughputTable& KernelModel::attention_table(AttentionKernel library, bool backward) const {
  if (library == AttentionKernel::flash_attention_2) return backward ? profile_->flash2_bwd : profile_->flash2_fwd;
  return backward ? profile_->attention_bwd : profile_->attention_fwd;
}

std::vector<std::string> KernelModel::assumptions() const {
  std::vector<std::string> out = profile_assumptions();
  if (stragglers_) out.push_back(*stragglers_);
  return out;
}

std::vector<std::string> KernelModel::profile_assumptions() const {
  if (!profile_)
    return {"kernel times: roofline from " + gpu_.name +
            " catalogue peaks with measured per-class ceilings (no calibration profile)"};
  auto get = [&](const char* k) {
    const auto it = profile_->provenance.find(k);
    return it == profile_->provenance.end() ? std::string("?") : it->second;
  };
  std::string a = "kernel times: calibration profile " + profile_->name + " (measured on " + get("device") + ", driver " +
                  get("driver") + ", CUDA " + get("cuda") + ", " + get("date") + ")";
  if (profile_->derived_from != "none") a += ", derived from " + profile_->derived_from + " for " + profile_->gpu;
  std::vector<std::string> out = {a};
  if (tensor_clock_ < 1.0)
    out.push_back(fmt::format("clocks: sustained under the power cap; GEMMs and attention at {:.1f}% of the profile's burst "
                              "throughput (its looped GEMM: {:.0f} against {:.0f} TFLOP/s)",
                              100 * tensor_clock_, profile_->sustained_gemm_bf16_flops_per_s / 1e12,
                              profile_->sustained_gemm_bf16_flops_per_s / tensor_clock_ / 1e12));
  else if (profile_->sustained_gemm_bf16_flops_per_s > 0)
    out.push_back("clocks: burst, as the profile's short timed repetitions ran (clocks: burst)");
  else
    out.push_back("clocks: burst (the profile has no sustained measurement)");
  for (const AttentionKernel a : attention_) {
    const bool measured = !attention_table(a, false).empty();
    const char* what = a == AttentionKernel::flash_attention_2 ? "FlashAttention-2 (attention_kernel: flash-attention-2)"
                              : "the fused kernel (cuDNN, as Transformer Engine runs on Hopper+)";
    out.push_back(measured ? fmt::format("attention kernels: {}, from the profile's measured rows", what)
                           : fmt::format("attention kernels: {}: roofline with the catalogue's measured ceilings "
                                         "(none in the profile)", what));
  }
  for (const auto& c : outside_) out.push_back(c + " shapes outside the profile's range: fitted efficiency curve");
  return out;
}

}  // namespace gpuhours

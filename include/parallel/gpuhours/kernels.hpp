// Kernel timing, from a calibration profile of measured kernel times where one applies, else a
// roofline with measured ceilings.
//
// Calibration profile (calibration.hpp): GEMM times over
// shapes (BF16, FP8), grouped GEMMs, fused causal attention forward/backward, memory bandwidths,
// each with the machine it was measured on. A kernel's time is its FLOPs divided by an achieved
// throughput interpolated in log space between the measured shapes nearest to it (inverse
// distance weighting, exact at measured shapes). Outside the measured range (any dimension more
// than a factor 2 beyond it) the throughput comes from a curve fitted to the whole table with
// Eigen: ln(throughput) = c0 + c1 ln M + c2 ln N + c3 ln K (small M, N or K lose efficiency to
// wave quantisation and tile edges), capped at the best measured throughput; the report says so.
//
// Roofline (no profile): time = launch + max(FLOPs / (peak * ceiling), bytes / (HBM * ceiling)),
// each ceiling the fraction of the datasheet peak a real kernel of that class reached
// (hardware/gpus/*.yaml cites the measurement).
#pragma once
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "gpuhours/opgraph.hpp"
#include "gpuhours/hardware.hpp"
#include "gpuhours/units.hpp"

namespace gpuhours {

/// The expected largest of `n` standard normal draws, by Blom's approximation
/// Phi^-1((n - 0.375) / (n + 0.25)) (G. Blom, Statistical Estimates and Transformed Beta-Variables,
/// 1958); 0 for one draw. Within 0.025 of the exact expectation at 2 draws, 0.015 from 10 to 1,000.
double expected_max_standard_normal(int n);

/// How much longer a synchronous job's compute takes because every step waits for its slowest GPU:
/// 1 + cv * E[max of N standard normals] over the cluster's N GPUs, cv the GPU's speed_variation.
/// 1 with `stragglers: false` (an ideal cluster).
double straggler_time_factor(const ClusterSpec& cluster);

/// How long a collective of `ranks` ranks waits, beyond the mean, for its slowest participant when
/// each ran compute of variance `variance_ns2` (ns^2) since the collective before it, independently:
/// E[max of `ranks` standard normals] standard deviations (per-kernel jitter, GpuSpec::kernel_jitter).
Time collective_jitter_wait(double variance_ns2, int ranks);

/// The share of `gpu`'s SMs that a communication kernel of `sms` SMs takes from the compute beside
/// it, at most 90% (assumed: a hardware file cannot give the transfers the whole GPU).
double comm_sm_share(int sms, const GpuSpec& gpu);

/// The fraction of its rate a GEMM on a fixed SM partition loses while communication kernels run on
/// the SMs it leaves: the GPU's slowdown_beside_comm, 0 with `slowdown_beside_comm: false`.
double gemm_slowdown_beside_comm(const ClusterSpec& cluster);
/// What the report says of it.
std::string slowdown_beside_comm_assumption(const ClusterSpec& cluster);
/// The coefficient of variation of a kernel's time the collectives wait out: the GPU's
/// kernel_jitter, 0 with `jitter: false`.
double kernel_jitter(const ClusterSpec& cluster);

/// Tensor-core throughput against the profile's short timed repetitions: with `clocks: sustained`
/// and a calibration profile, the profile's sustained / burst ratio of its looped GEMM; else 1.
double tensor_clock_ratio(const CalibrationProfile* profile, Clocks clocks);

class KernelModel {
 public:
  /// `time_scale` multiplies every kernel time (uncertainty analysis; 1 = as modelled). `clocks`:
  /// with `sustained`, tensor-core kernels (GEMMs, attention) run at the profile's sustained /
  /// burst ratio of its looped GEMM; memory-bound kernels keep their measured bandwidth (HBM is
  /// clocked apart from the SMs).
  explicit KernelModel(const GpuSpec& gpu, const CalibrationProfile* profile = nullptr, double time_scale = 1.0,
                       Clocks clocks = Clocks::burst);
  /// The cluster's GPU, profile and clocks; every kernel also waits for the job's slowest GPU
  /// (straggler_time_factor).
  explicit KernelModel(const ClusterSpec& cluster, double time_scale = 1.0);
  /// Time of one kernel on one GPU running alone.
  Time time(const Kernel& k) const;
  /// The part of time(k) that is an FP8 GEMM's quantization pass (a memory-bound kernel before it);
  /// zero for other kernels.
  Time quantize_time(const Kernel& k) const;
  /// What the model assumed, for the report (profile and environment, or roofline; how many
  /// kernel shapes fell outside the measured range).
  std::vector<std::string> assumptions() const;

 private:
  double unscaled_seconds(const Kernel& k) const;
  double unscaled_quantize_seconds(const Kernel& k) const;
  double launch_gaps(const Kernel& k) const;
  std::vector<std::string> profile_assumptions() const;
  const GpuSpec& gpu_;
  const CalibrationProfile* profile_;
  double scale_ = 1.0;
  double tensor_clock_ = 1.0;  // tensor-core throughput / the profile's (sustained_clock_ratio or 1)
  std::optional<std::string> stragglers_;  // the straggler assumption, for a model of a whole cluster
  mutable std::set<std::string> outside_;  // kernel classes timed by the fitted fallback
  mutable std::set<AttentionKernel> attention_;  // attention kernel libraries timed
  /// The profile's table for a library's attention pass (may be empty: then the roofline).
  const ThroughputTable& attention_table(AttentionKernel library, bool backward) const;
};

}  // namespace gpuhours

// Calibration profiles (hardware/calibration/*.yaml): kernel throughput measured on a real GPU
// over shapes (GEMMs in BF16 and FP8, grouped GEMMs, fused causal attention forward/backward,
// memory bandwidths), each with the machine it was measured on. Interpolated in log space between
// the measured shapes nearest to a query (inverse distance weighting, exact at measured shapes);
// outside the measured range (any dimension more than a factor 2 beyond it) a curve fitted to the
// whole table with Eigen: ln(throughput) = c0 + c1 ln M + c2 ln N + c3 ln K, capped at the best
// measured throughput.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace gpuhours {

class YamlNode;

/// Achieved throughput over measured shapes, interpolated in log space (see above).
class ThroughputTable {
 public:
  /// `shape` is the features (e.g. {M, N, K}), `throughput` what was achieved at it.
  void add(std::vector<double> shape, double throughput);
  bool empty() const { return points_.empty(); }
  /// Fits the fallback curve; call after the last add().
  void fit();
  /// Interpolated (inside the range) or fitted (outside) throughput; sets `fitted` when outside.
  double at(const std::vector<double>& shape, bool* fitted = nullptr) const;
  std::size_t size() const { return points_.size(); }

 private:
  struct Point {
    std::vector<double> log_shape;
    double throughput;
  };
  std::vector<Point> points_;
  std::vector<double> lo_, hi_, coef_;
  double best_ = 0;
};

struct CalibrationProfile {
  std::string name, gpu, derived_from, file;
  std::map<std::string, std::string> provenance;
  ThroughputTable gemm_bf16, gemm_fp8;  // FLOP/s over (M, N, K)
  ThroughputTable grouped_bf16;          // FLOP/s over (groups, M per group, N, K)
  // Attention FLOP/s over (batch*heads, seq, d_qk + d_v), per kernel library: the fused kernel
  // (cuDNN; `attention`) and FlashAttention-2 (`attention_flash_attention_2`). Either may be empty.
  ThroughputTable attention_fwd, attention_bwd;
  ThroughputTable flash2_fwd, flash2_bwd;
  double copy_bytes_per_s = 0, elementwise_bytes_per_s = 0;
  double sustained_gemm_bf16_flops_per_s = 0;
  // Sustained / burst throughput of the same GEMM looped under the power cap (1: not measured).
  // The table's kernels are timed in short bursts; a training step runs for seconds at the cap.
  double sustained_clock_ratio = 1.0;
  // FP8 GEMM throughput against the rows M of a GEMM (kernel time from a profiler, no host launch
  // in it), for the GEMMs of decoding iterations: [M, FLOP/s] by increasing M, and its source.
  // Empty where the profile has none (decoding then runs at the catalogue's achievable FP8 rate).
  std::vector<std::pair<double, double>> gemm_fp8_by_rows;
  std::string gemm_fp8_by_rows_source;
};

/// A GEMM's FP8 throughput at `m` rows from a profile's gemm_fp8_by_rows: interpolated in log-log
/// between its rows; below the fewest rows the same weight bandwidth (throughput in proportion to
/// m: the GEMM streams its weights), above the most rows the last throughput.
double fp8_gemm_flops_per_s_at_rows(const CalibrationProfile& p, double m);

/// Loads and validates a profile; a missing, malformed or truncated table is an InputError.
CalibrationProfile load_calibration(const YamlNode& node);

}  // namespace gpuhours

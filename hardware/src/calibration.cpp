#include "gpuhours/calibration.hpp"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>

#include "gpuhours/error.hpp"
#include "gpuhours/yaml.hpp"

namespace gpuhours {

namespace {
// ln 2: a factor 2 beyond the measured range, where interpolation between the nearest shapes
// stops being trusted and the fitted curve takes over (assumed).
constexpr double kRangeSlack = 0.6931471805599453;
}

void ThroughputTable::add(std::vector<double> shape, double throughput) {
  GPUHOURS_ASSERT(throughput > 0, "a measured throughput is positive");
  for (double& x : shape) {
    GPUHOURS_ASSERT(x > 0, "shape features are positive");
    x = std::log(x);
  }
  points_.push_back({std::move(shape), throughput});
}

void ThroughputTable::fit() {
  if (points_.empty()) return;
  const std::size_t dims = points_.front().log_shape.size();
  lo_.assign(dims, std::numeric_limits<double>::infinity());
  hi_.assign(dims, -std::numeric_limits<double>::infinity());
  best_ = 0;
  for (const Point& p : points_) {
    best_ = std::max(best_, p.throughput);
    for (std::size_t d = 0; d < dims; ++d) {
      lo_[d] = std::min(lo_[d], p.log_shape[d]);
      hi_[d] = std::max(hi_[d], p.log_shape[d]);
    }
  }
  // Least squares: ln(throughput) = c0 + sum c_d ln(x_d); dimensions that never vary get 0.
  Eigen::MatrixXd A(points_.size(), dims + 1);
  Eigen::VectorXd y(points_.size());
  for (std::size_t i = 0; i < points_.size(); ++i) {
    A(i, 0) = 1.0;
    for (std::size_t d = 0; d < dims; ++d) A(i, d + 1) = hi_[d] > lo_[d] ? points_[i].log_shape[d] : 0.0;
    y(i) = std::log(points_[i].throughput);
  }
  const Eigen::VectorXd c = A.completeOrthogonalDecomposition().solve(y);
  coef_.assign(c.data(), c.data() + c.size());
}

double ThroughputTable::at(const std::vector<double>& shape, bool* fitted) const {
  GPUHOURS_ASSERT(!points_.empty() && !coef_.empty(), "a fitted table");
  std::vector<double> x(shape.size());
  bool inside = true;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    x[d] = std::log(std::max(shape[d], 1e-30));
    if (x[d] < lo_[d] - kRangeSlack || x[d] > hi_[d] + kRangeSlack) inside = false;
  }
  if (fitted) *fitted = !inside;
  if (!inside) {
    double ln = coef_[0];
    for (std::size_t d = 0; d < x.size(); ++d) ln += coef_[d + 1] * (hi_[d] > lo_[d] ? x[d] : 0.0);
    return std::min(best_, std::exp(ln));
  }
  // Inverse distance weighting (Shepard 1968) with power 4 over all points (assumed: the nearest
  // shapes dominate more than with Shepard's usual power 2); exact at a point.
  double num = 0, den = 0;
  for (const Point& p : points_) {
    double d2 = 0;
    for (std::size_t d = 0; d < x.size(); ++d) d2 += (x[d] - p.log_shape[d]) * (x[d] - p.log_shape[d]);
    if (d2 < 1e-18) return p.throughput;
    const double w = 1.0 / (d2 * d2);
    num += w * p.throughput;
    den += w;
  }
  return num / den;
}

CalibrationProfile load_calibration(const YamlNode& n) {
  n.check_keys({{"name", true, "profile id"},
                {"gpu", true, "GPU preset the profile describes"},
                {"derived_from", true, "none, or the measured profile this one is derived from"},
                {"provenance", true, "where and how it was measured"},
                {"gemm_bf16", true, "[M, N, K, seconds] rows"},
                {"gemm_fp8", true, "[M, N, K, seconds] rows"},
                {"grouped_gemm_bf16", true, "[groups, M, N, K, seconds] rows"},
                {"attention", true, "fused (cuDNN) attention: [batch, heads, seq, d_qk, d_v, fwd s, fwd+bwd s] rows"},
                {"attention_flash_attention_2", false, "FlashAttention-2: rows as in attention"},
                {"memory", true, "copy and elementwise bandwidth"},
                {"sustained", false, "sustained throughput under the power cap"},
                {"gemm_fp8_by_rows", false, "decoding GEMMs: {source, rows: [M, TFLOP/s] by increasing M}"},
                {"differences", false, "derived profiles: what differs from the measured machine"}});
  CalibrationProfile p;
  p.file = n.file();
  p.name = n.child("name").as_string();
  p.gpu = n.child("gpu").as_string();
  p.derived_from = n.child("derived_from").as_string();
  for (const auto& [k, v] : n.child("provenance").entries()) p.provenance[k] = v.as_string();
  // A table of rows of `arity` positive numbers; the grouped GEMM and attention tables may be
  // empty (then the GEMM table per group, and the catalogue's attention ceilings, are used).
  auto rows = [&](const char* key, std::size_t arity, bool may_be_empty = false) {
    const YamlNode t = n.child(key);
    std::vector<std::vector<double>> out;
    for (const YamlNode& row : t.items()) {
      if (!row.is_sequence() || row.raw().size() != arity)
        throw row.error("expected a row of " + std::to_string(arity) + " numbers");
      std::vector<double> v;
      for (const YamlNode& x : row.items()) v.push_back(x.as_positive_double());
      out.push_back(std::move(v));
    }
    if (out.empty() && !may_be_empty) throw t.error("the table is empty");
    return out;
  };
  for (const auto& r : rows("gemm_bf16", 4)) p.gemm_bf16.add({r[0], r[1], r[2]}, 2 * r[0] * r[1] * r[2] / r[3]);
  for (const auto& r : rows("gemm_fp8", 4)) p.gemm_fp8.add({r[0], r[1], r[2]}, 2 * r[0] * r[1] * r[2] / r[3]);
  for (const auto& r : rows("grouped_gemm_bf16", 5, true))
    p.grouped_bf16.add({r[0], r[1], r[2], r[3]}, 2 * r[0] * r[1] * r[2] * r[3] / r[4]);
  auto attention = [&](const char* key, ThroughputTable& fwd_table, ThroughputTable& bwd_table) {
    for (const auto& r : rows(key, 7, true)) {
      // Causal forward FLOPs 2*B*H*S^2*(d_qk + d_v)/2; backward 2.5x (same convention as the op graph).
      const double fwd = 2 * r[0] * r[1] * r[2] * r[2] * (r[3] + r[4]) * 0.5;
      if (r[6] <= r[5]) throw n.child(key).error("forward+backward time must exceed the forward time");
      fwd_table.add({r[0] * r[1], r[2], r[3] + r[4]}, fwd / r[5]);
      bwd_table.add({r[0] * r[1], r[2], r[3] + r[4]}, 2.5 * fwd / (r[6] - r[5]));
    }
  };
  attention("attention", p.attention_fwd, p.attention_bwd);
  if (n.has("attention_flash_attention_2")) attention("attention_flash_attention_2", p.flash2_fwd, p.flash2_bwd);
  const YamlNode mem = n.child("memory");
  mem.check_keys({{"copy", true, "bytes/s"}, {"elementwise", true, "bytes/s"}});
  p.copy_bytes_per_s = mem.child("copy").as_positive_double();
  p.elementwise_bytes_per_s = mem.child("elementwise").as_positive_double();
  for (ThroughputTable* t : {&p.gemm_bf16, &p.gemm_fp8, &p.grouped_bf16, &p.attention_fwd, &p.attention_bwd, &p.flash2_fwd,
                             &p.flash2_bwd})
    t->fit();
  if (auto sus = n.optional_child("sustained")) {
    sus->check_keys({{"gemm_bf16_flops_per_s", true, "FLOP/s"},
                     {"shape", true, "[M, N, K] of the GEMM looped under the power cap (a measured gemm_bf16 shape)"}});
    p.sustained_gemm_bf16_flops_per_s = sus->child("gemm_bf16_flops_per_s").as_positive_double();
    const YamlNode shape = sus->child("shape");
    std::vector<double> mnk;
    for (const YamlNode& x : shape.items()) mnk.push_back(x.as_positive_double());
    if (mnk.size() != 3) throw shape.error("expected [M, N, K]");
    // The same GEMM's burst throughput, from the table (exact at a measured shape).
    const double burst = p.gemm_bf16.at(mnk);
    p.sustained_clock_ratio = std::min(1.0, p.sustained_gemm_bf16_flops_per_s / burst);
  }
  if (auto by_rows = n.optional_child("gemm_fp8_by_rows")) {
    by_rows->check_keys({{"source", true, "where the throughputs were measured"},
                         {"rows", true, "[M, TFLOP/s] by increasing M"}});
    p.gemm_fp8_by_rows_source = by_rows->child("source").as_string();
    if (p.gemm_fp8_by_rows_source.empty()) throw by_rows->child("source").error("a source is required");
    for (const YamlNode& row : by_rows->child("rows").items()) {
      if (!row.is_sequence() || row.raw().size() != 2) throw row.error("expected a row [M, TFLOP/s]");
      const double m = row.items()[0].as_positive_double(), tflops = row.items()[1].as_positive_double();
      // TFLOP/s, not FLOP/s: no GPU reaches 100 PFLOP/s.
      if (tflops > 1e5) throw row.error("throughput in TFLOP/s (at most 1e5), not FLOP/s");
      if (!p.gemm_fp8_by_rows.empty() && m <= p.gemm_fp8_by_rows.back().first)
        throw row.error("rows must be by increasing M");
      p.gemm_fp8_by_rows.emplace_back(m, tflops * 1e12);
    }
    if (p.gemm_fp8_by_rows.empty()) throw by_rows->child("rows").error("the table is empty");
  }
  return p;
}

double fp8_gemm_flops_per_s_at_rows(const CalibrationProfile& p, double m) {
  const auto& rows = p.gemm_fp8_by_rows;
  GPUHOURS_ASSERT(!rows.empty() && m > 0, "a profile with gemm_fp8_by_rows and a GEMM with rows");
  if (m <= rows.front().first) return rows.front().second * m / rows.front().first;
  if (m >= rows.back().first) return rows.back().second;
  const auto hi = std::upper_bound(rows.begin(), rows.end(), m, [](double x, const auto& r) { return x < r.first; });
  const auto lo = hi - 1;
  const double f = std::log(m / lo->first) / std::log(hi->first / lo->first);
  return std::exp(std::log(lo->second) + f * std::log(hi->second / lo->second));
}

}  // namespace gpuhours

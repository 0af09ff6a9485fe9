// The validation suite: published and measured runs (tests/validation/*.yaml) simulated with
// their configurations, reported against simulated, with the error of each and the mean
// absolute percentage error by hardware.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "gpuhours/scenario.hpp"

namespace gpuhours {

struct ValidationCase {
  std::string id, hardware, source, metric;  // metric: tokens_per_gpu_second | step_seconds | gpu_hours
  bool moe = false;                          // the model has a mixture-of-experts FFN
  std::string precision;                     // the training precision (bf16, fp8)
  /// Non-empty: reported but outside the gate, with the reason (a mechanism not yet simulated).
  std::string tracking;
  /// Non-empty: a published figure the simulation does not compute like for like (a day's average
  /// over a varying load beside a simulated capacity), printed beside it and left out of every
  /// MAPE, with the reason.
  std::string excluded;
  bool serving = false;  // a serving case (gpuhours serve): its own group and limits
  /// Hardware x dense/MoE x precision, e.g. "H800 MoE fp8"; serving cases: "serving throughput" or "serving latency".
  std::string group() const {
    if (serving) return std::string("serving ") + (metric.ends_with("_seconds") ? "latency" : "throughput");
    return hardware + (moe ? " MoE " : " dense ") + precision;
  }
  double reported = 0, simulated = 0;
  double error() const { return simulated / reported - 1.0; }
};

/// Limits on absolute percentage errors: the mean over the cases, the mean of any group, any case.
struct ValidationLimits {
  double mean, group, any_case;
};
/// The fidelity the project aims at: issue 16's limits (docs/validation.md), over every training case.
constexpr ValidationLimits kValidationTarget{0.08, 0.12, 0.25};
/// What CI enforces on the gated cases (README "Validation"): the target itself since 2026-12-07
/// (15% mean, 25% any group, 30% any case before).
constexpr ValidationLimits kValidationGate = kValidationTarget;

/// Serving cases: the mean absolute error of the throughput figures and of the latency figures
/// (issue 20's limits; Vidur, the best-known serving simulator, reports latency within 9%).
struct ServingLimits {
  double throughput, latency;
};
constexpr ServingLimits kServingLimits{0.15, 0.20};

/// Mean absolute percentage errors of a set of cases.
struct ErrorSummary {
  std::map<std::string, double> mape_by_hardware, mape_by_group;
  double mape = 0, worst = 0;
  int cases = 0;
  bool within(const ValidationLimits& l) const;
};

/// Each serving group (throughput, latency) within its limit.
bool within_serving_limits(const ErrorSummary& s);

struct ValidationReport {
  std::vector<ValidationCase> cases;
  ErrorSummary all, gated;  // training cases: every one; those without `tracking`
  ErrorSummary serving, serving_gated;  // serving cases: every one; those without `tracking` (kServingLimits per group)
  bool serving_passed() const { return within_serving_limits(serving_gated); }
  bool passed() const { return gated.within(kValidationGate) && serving_passed(); }
};

/// Runs every case of every YAML file in `folder` (paths in cases are relative to the catalogue root).
ValidationReport run_validation(const Catalog& catalog, const std::string& folder);

}  // namespace gpuhours

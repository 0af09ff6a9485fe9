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
  /// Hardware x dense/MoE x precision, e.g. "H800 MoE fp8".
  std::string group() const { return hardware + (moe ? " MoE " : " dense ") + precision; }
  double reported = 0, simulated = 0;
  double error() const { return simulated / reported - 1.0; }
};

struct ValidationReport {
  std::vector<ValidationCase> cases;
  std::map<std::string, double> mape_by_hardware, mape_by_group;
  double mape = 0, worst = 0;
  /// Pass: mean absolute percentage error <= 15% and no case beyond 30% (the project's acceptance
  /// limits, README "Validation").
  bool passed() const { return mape <= 0.15 && worst <= 0.30; }
};

/// Runs every case of every YAML file in `folder` (paths in cases are relative to the catalogue root).
ValidationReport run_validation(const Catalog& catalog, const std::string& folder);

}  // namespace gpuhours

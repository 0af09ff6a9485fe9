// Sensitivity: the run's GPU-hours and cost as each uncertain input moves over its range.
#pragma once
#include <string>
#include <vector>

#include "gpuhours/run.hpp"

namespace gpuhours {

/// One bar of the tornado: the run's GPU-hours and cost with one uncertain input at each end of
/// its stated range, all else as in the scenario.
struct SensitivityRow {
  std::string input, low, high;
  double gpu_hours_low = 0, gpu_hours_high = 0, cost_low = 0, cost_high = 0;
};

/// Moves each uncertain input over its range: kernel times +-15% (calibration spread), achievable
/// network bandwidth +-15% (nccl-tests spread), expert load imbalance 1.0-1.3 (MoE), interruption
/// rate x0.5-x2 (Llama 3 vs Meta RSC reports), rental price over the presets. Rows are sorted by
/// swing in GPU-hours (price: by cost).
/// `base` is the scenario's own run (account_run of its step).
std::vector<SensitivityRow> sensitivity(const Scenario& s, const RunResult& base);

}  // namespace gpuhours

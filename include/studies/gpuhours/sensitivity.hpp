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
  /// A switch between two modelling choices (clocks: burst or sustained), shown in the tornado but
  /// not sampled by check's Monte Carlo: its uncertainty is already inside the kernel-time range.
  bool switch_only = false;
  /// Where an end of the range does not fit in memory: why, and where the row stops instead.
  std::vector<std::string> notes;
};

/// Moves each uncertain input over its range (hardware/uncertainty.yaml, with sources): kernel
/// time, achievable network bandwidth, interruption rate, per-GPU speed spread (stragglers), expert
/// load imbalance (MoE with ep > 1), response length (RL and generation phases); the clocks (burst
/// or sustained, where the profile measured both); and the rental price over the presets. Rows are
/// sorted by swing in GPU-hours (price: by cost).
/// `base` is the scenario's own run (account_run of its step).
std::vector<SensitivityRow> sensitivity(const Scenario& s, const RunResult& base);

}  // namespace gpuhours

// Whole-run accounting: the simulated step scaled to the run's tokens, priced and compared with
// the scenario's claim.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "gpuhours/scenario.hpp"
#include "gpuhours/step.hpp"

namespace gpuhours {

/// One phase of the run: simulated (step time x steps) or taken as reported.
struct PhaseResult {
  std::string name;
  bool simulated = true;
  double tokens = 0, steps = 0, step_seconds = 0, mfu = 0;
  std::int64_t seq_len = 0, global_batch = 0;
  double gpu_hours = 0, wall_clock_days = 0;
  std::string note;
};

struct RunResult {
  std::vector<PhaseResult> phases;  // main phase (split along a batch ramp), then later phases
  double steps = 0;            // optimizer steps of the simulated phases (fractional last step kept)
  double gpu_hours = 0;        // sum over phases: steps * step seconds * GPUs / 3600
  double wall_clock_days = 0;  // sum over phases: steps * step seconds / 86400
  double cost_usd = 0;         // gpu_hours * gpu_hour_usd
  double energy_mwh = 0;       // gpu_hours * TDP (every GPU at board power; no PUE yet)
};

struct ClaimResult {
  std::optional<double> gpu_hours;
  std::optional<double> ratio;         // claimed / simulated GPU-hours
  std::optional<double> required_mfu;  // MFU the claimed GPU-hours imply
  std::optional<double> cost_usd;
  std::string source;
};

/// Scales `step` (the main phase at its final batch) to the run: the batch ramp and each later
/// phase are simulated with their own shape and layout (InfeasibleLayout names the phase).
RunResult account_run(const Scenario& s, const StepResult& step);
ClaimResult check_claim(const Scenario& s, const StepResult& step, const RunResult& run);

}  // namespace gpuhours

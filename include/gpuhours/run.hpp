// Whole-run accounting: the simulated step scaled to the run's tokens, priced and compared with
// the scenario's claim.
#pragma once
#include <optional>

#include "gpuhours/scenario.hpp"
#include "gpuhours/step.hpp"

namespace gpuhours {

struct RunResult {
  double steps = 0;            // tokens / tokens per step (fractional last step kept)
  double gpu_hours = 0;        // steps * step seconds * GPUs / 3600
  double wall_clock_days = 0;  // steps * step seconds / 86400
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

RunResult account_run(const Scenario& s, const StepResult& step);
ClaimResult check_claim(const Scenario& s, const StepResult& step, const RunResult& run);

}  // namespace gpuhours

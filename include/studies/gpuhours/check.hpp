// Claim checks: the simulated range of a claimed quantity, the ratio claim / simulated, a verdict
// in plain words, and what must be true for the claim to hold.
//
// Range: a Monte Carlo over the documented uncertain inputs (kernel time, network bandwidth,
// expert load imbalance, interruption rate, rental price), each uniform over its range
// (run.hpp, sensitivity()), seeded and reproducible. Each sample is priced by a separable
// surrogate of the simulator: GPU-hours = base x prod_i f_i(u_i), with f_i linear between the
// simulated low, base and high ends of input i (interactions between inputs are neglected).
#pragma once
#include <cstdint>
#include <optional>
#include <iosfwd>
#include <string>
#include <vector>

#include "gpuhours/run.hpp"
#include "gpuhours/sensitivity.hpp"

namespace gpuhours {

struct Percentiles {
  double p10 = 0, p50 = 0, p90 = 0;
};

struct CheckResult {
  StepResult step;
  RunResult run;
  ClaimResult claim;
  std::vector<SensitivityRow> inputs;
  std::uint64_t seed = 0;
  int samples = 0;
  Percentiles gpu_hours, cost_usd;
  std::string verdict;               // one line
  std::vector<std::string> reasons;  // plain sentences
  double required_tokens_per_gpu_second = 0;
  double best_published_mfu = 0;
  std::string best_published_what;
  std::string dominant_phase;  // the phase with the most GPU-hours
  double dominant_share = 0;
  /// The claim's baseline scenario, when it claims a saving over one.
  struct Baseline {
    std::string name;
    double claimed_gpu_hours = 0, simulated_gpu_hours = 0, claimed_saving = 0, simulated_saving = 0;
    std::string dominant_phase;
  };
  std::optional<Baseline> baseline;
};

/// Checks the scenario's claim (GPU-hours; cost when only a cost is claimed). Throws InputError
/// when the scenario has no claim.
CheckResult check_scenario(const Scenario& s, const Catalog& catalog, std::uint64_t seed, int samples);


}  // namespace gpuhours

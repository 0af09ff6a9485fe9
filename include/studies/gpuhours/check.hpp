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

/// Where a claim falls (hardware/verdict-scale.yaml gives the thresholds and their reasoning).
enum class Verdict { impossible, beyond_published, ambitious, consistent, above_range, far_above, counterfactual };
template <>
struct EnumTable<Verdict> {
  static constexpr std::array<EnumName<Verdict>, 7> names{{{Verdict::impossible, "impossible"},
                                                           {Verdict::beyond_published, "beyond-published"},
                                                           {Verdict::ambitious, "ambitious"},
                                                           {Verdict::consistent, "consistent"},
                                                           {Verdict::above_range, "above-range"},
                                                           {Verdict::far_above, "far-above"},
                                                           {Verdict::counterfactual, "counterfactual"}}};
};

struct VerdictScale {
  double impossible_mfu = 1.0;   // a claim needing more MFU than this cannot hold as described
  double far_above_ratio = 2.0;  // claim / simulated median beyond which the run needs far less
};
VerdictScale load_verdict_scale(const Catalog& catalog);

/// The category of a claim of `claimed` GPU-hours against the simulated `range`, when it requires
/// `required_mfu` and the best published MFU for the hardware is `best_published_mfu` (0: none).
Verdict classify_claim(const VerdictScale& scale, double claimed, const Percentiles& range, double required_mfu,
                       double best_published_mfu);

struct CheckResult {
  StepResult step;
  RunResult run;
  ClaimResult claim;
  std::vector<SensitivityRow> inputs;
  std::uint64_t seed = 0;
  int samples = 0;
  Percentiles gpu_hours, cost_usd;
  Verdict category = Verdict::consistent;
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
  /// The claimed cost at the claim's own price per GPU-hour, beside the simulated run at that price.
  struct CostAtClaimPrice {
    double usd_per_gpu_hour = 0, claimed_usd = 0, simulated_usd = 0;
  };
  std::optional<CostAtClaimPrice> cost_at_claim_price;
  std::string range_inputs;  // which inputs the P10-P90 range varies, and over what
  /// A counterfactual scenario (`counterfactual_of`): this run set beside the one it varies.
  struct Counterfactual {
    std::string name, title;
    double gpu_hours = 0, simulated_gpu_hours = 0, step_seconds = 0, mfu = 0, cost_usd = 0;
    std::optional<double> claimed_gpu_hours;
  };
  std::optional<Counterfactual> counterfactual;
};

/// Checks the scenario's claim (GPU-hours; its cost at the claim's own price), or sets a
/// counterfactual scenario beside the run it varies. Throws InputError when it has neither.
CheckResult check_scenario(const Scenario& s, const Catalog& catalog, std::uint64_t seed, int samples);


}  // namespace gpuhours

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "gpuhours/sensitivity.hpp"
#include "gpuhours/simulated_run.hpp"

namespace gpuhours {

namespace {
RunResult rerun(const Scenario& s) { return simulate_run(s).run; }
}  // namespace

std::vector<SensitivityRow> sensitivity(const Scenario& s, const RunResult& base) {
  struct Knob {
    std::string input, low, high;
    void (*apply)(Scenario&, bool high);
    bool switch_only = false;
  };
  // Labels: a multiplier as a percentage ("-15%", "+15%") or a factor ("x0.5", "x2").
  auto percent = [](double m) { return fmt::format("{:+.0f}%", 100 * (m - 1)); };
  auto factor = [](double m) { return fmt::format("x{:g}", m); };
  const UncertaintySpec& u = s.uncertainty;
  std::vector<Knob> knobs = {
      {"kernel time", percent(u.kernel_time.low), percent(u.kernel_time.high),
       [](Scenario& x, bool hi) { x.uncertainty.kernel_time_scale *= hi ? x.uncertainty.kernel_time.high : x.uncertainty.kernel_time.low; }},
      {"network bandwidth", percent(u.network_bandwidth.low), percent(u.network_bandwidth.high),
       [](Scenario& x, bool hi) {
         x.uncertainty.network_bandwidth_scale *= hi ? x.uncertainty.network_bandwidth.high : x.uncertainty.network_bandwidth.low;
       }},
      {"GPU speed spread", factor(u.speed_variation.low), factor(u.speed_variation.high),
       [](Scenario& x, bool hi) { x.cluster.gpu.speed_variation *= hi ? x.uncertainty.speed_variation.high : x.uncertainty.speed_variation.low; }},
      {"interruption rate", factor(u.interruption_rate.low), factor(u.interruption_rate.high),
       [](Scenario& x, bool hi) {
         x.reliability.interruptions_per_gpu_hour *= hi ? x.uncertainty.interruption_rate.high : x.uncertainty.interruption_rate.low;
       }},
  };
  // Clocks: the profile's burst clocks against the sustained ones under the power cap.
  if (s.cluster.calibration && s.cluster.calibration->sustained_clock_ratio < 1.0)
    knobs.push_back({"clocks", "burst", "sustained", [](Scenario& x, bool hi) {
                       x.cluster.clocks = hi ? Clocks::sustained : Clocks::burst;
                     }, true});
  // Links: each transfer's closed form alone, against data- and pipeline-parallel transfers as
  // flows sharing the topology's links (cluster: {flows: true}).
  if (s.cluster.nodes > 1)
    knobs.push_back({"link sharing", "closed", "flows", [](Scenario& x, bool hi) { x.cluster.flows = hi; }, true});
  if (s.model.ffn.moe && s.parallel.ep > 1)
    knobs.push_back({"expert load imbalance", fmt::format("{:.1f}", u.expert_imbalance.low),
                     fmt::format("{:.1f}", u.expert_imbalance.high), [](Scenario& x, bool hi) {
                       x.parallel.expert_imbalance = hi ? x.uncertainty.expert_imbalance.high : x.uncertainty.expert_imbalance.low;
                       for (PhaseSpec& p : x.training.phases) p.parallel.expert_imbalance = x.parallel.expert_imbalance;
                     }});
  if (std::any_of(s.training.phases.begin(), s.training.phases.end(), [](const PhaseSpec& p) { return p.kind != PhaseKind::train; }))
    knobs.push_back({"response length", percent(u.response_length.low), percent(u.response_length.high), [](Scenario& x, bool hi) {
                       const double m = hi ? x.uncertainty.response_length.high : x.uncertainty.response_length.low;
                       for (PhaseSpec& p : x.training.phases) {
                         LengthSpec& r = p.generation.response;
                         // A truncated exponential's mean stays below its cap: 1% under it (assumed).
                         const double cap = 0.99 * static_cast<double>(r.max_tokens);
                         r.mean_from = std::min(cap, r.mean_from * m);
                         r.mean_to = std::min(cap, r.mean_to * m);
                       }
                     }});
  std::vector<SensitivityRow> rows;
  for (const Knob& k : knobs) {
    SensitivityRow row{k.input, k.low, k.high};
    row.switch_only = k.switch_only;
    for (bool hi : {false, true}) {
      Scenario x = s;
      k.apply(x, hi);
      const RunResult r = rerun(x);
      (hi ? row.gpu_hours_high : row.gpu_hours_low) = r.gpu_hours;
      (hi ? row.cost_high : row.cost_low) = r.cost_usd;
    }
    rows.push_back(row);
  }
  std::sort(rows.begin(), rows.end(), [](const SensitivityRow& a, const SensitivityRow& b) {
    return std::abs(a.gpu_hours_high - a.gpu_hours_low) > std::abs(b.gpu_hours_high - b.gpu_hours_low);
  });
  if (!s.cost.rental_presets.empty()) {
    // Price moves cost only: the cheapest and dearest rental presets.
    const auto [lo, hi] = std::minmax_element(s.cost.rental_presets.begin(), s.cost.rental_presets.end(),
                                              [](const auto& a, const auto& b) { return a.second < b.second; });
    rows.push_back({"rental price", lo->first, hi->first, base.gpu_hours, base.gpu_hours,
                    base.gpu_hours * lo->second, base.gpu_hours * hi->second});
  }
  return rows;
}

}  // namespace gpuhours

#include <algorithm>
#include <cmath>

#include "gpuhours/sensitivity.hpp"

namespace gpuhours {

namespace {
RunResult rerun(const Scenario& s) { return account_run(s, simulate_phases(s, simulate_step(s))); }
}  // namespace

std::vector<SensitivityRow> sensitivity(const Scenario& s, const RunResult& base) {
  struct Knob {
    std::string input, low, high;
    void (*apply)(Scenario&, bool high);
  };
  std::vector<Knob> knobs = {
      {"kernel time", "-15%", "+15%",
       [](Scenario& x, bool hi) { x.uncertainty.kernel_time_scale *= hi ? 1.15 : 0.85; }},
      {"network bandwidth", "-15%", "+15%",
       [](Scenario& x, bool hi) { x.uncertainty.network_bandwidth_scale *= hi ? 1.15 : 0.85; }},
      {"interruption rate", "x0.5", "x2",
       [](Scenario& x, bool hi) { x.reliability.interruptions_per_gpu_hour *= hi ? 2.0 : 0.5; }},
  };
  if (s.model.ffn.moe && s.parallel.ep > 1)
    knobs.push_back({"expert load imbalance", "1.0", "1.3", [](Scenario& x, bool hi) {
                       x.parallel.expert_imbalance = hi ? 1.3 : 1.0;
                       for (PhaseSpec& p : x.training.phases) p.parallel.expert_imbalance = x.parallel.expert_imbalance;
                     }});
  // Generated lengths are rarely published as figures (read from plots or assumed): +-30%.
  if (std::any_of(s.training.phases.begin(), s.training.phases.end(), [](const PhaseSpec& p) { return p.kind != PhaseKind::train; }))
    knobs.push_back({"response length", "-30%", "+30%", [](Scenario& x, bool hi) {
                       for (PhaseSpec& p : x.training.phases) {
                         LengthSpec& r = p.generation.response;
                         const double cap = 0.99 * static_cast<double>(r.max_tokens);
                         r.mean_from = std::min(cap, r.mean_from * (hi ? 1.3 : 0.7));
                         r.mean_to = std::min(cap, r.mean_to * (hi ? 1.3 : 0.7));
                       }
                     }});
  std::vector<SensitivityRow> rows;
  for (const Knob& k : knobs) {
    SensitivityRow row{k.input, k.low, k.high};
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

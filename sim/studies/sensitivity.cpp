#include <algorithm>
#include <cmath>
#include <functional>

#include <fmt/format.h>

#include "gpuhours/infeasible.hpp"
#include "gpuhours/sensitivity.hpp"
#include "gpuhours/simulated_run.hpp"
#include "gpuhours/step.hpp"

namespace gpuhours {

namespace {
RunResult rerun(const Scenario& s) { return simulate_run(s).run; }
}  // namespace

std::vector<SensitivityRow> sensitivity(const Scenario& s, const RunResult& base) {
  // A knob moves one input `t` of the way (0 < t <= 1) from the scenario's value to the low or
  // high end of its range; a switch (t ignored) picks one of two modelling choices.
  struct Knob {
    std::string input;
    std::function<std::string(bool high, double t)> label;
    std::function<void(Scenario&, bool high, double t)> apply;
    bool switch_only = false;
    // A switch end that is the scenario's own choice is the base run, not simulated again.
    std::function<bool(const Scenario&, bool high)> is_current = nullptr;
    // The input moves only the run's accounting (interruptions): the base run's phases are kept.
    bool run_only = false;
  };
  // Labels: a multiplier as a percentage ("-15%", "+15%") or a factor ("x0.5", "x2").
  auto percent = [](double m) { return fmt::format("{:+.0f}%", 100 * (m - 1)); };
  auto factor = [](double m) { return fmt::format("x{:g}", m); };
  auto part = [](double end, double t) { return 1 + t * (end - 1); };  // t of the way to a multiplier
  const UncertaintySpec& u = s.uncertainty;
  auto multiplier = [&](std::string input, const UncertaintySpec::Range& range, auto format, void (*scale)(Scenario&, double)) {
    return Knob{std::move(input),
                [=](bool hi, double t) { return format(part(hi ? range.high : range.low, t)); },
                [=](Scenario& x, bool hi, double t) { scale(x, part(hi ? range.high : range.low, t)); }};
  };
  std::vector<Knob> knobs = {
      multiplier("kernel time", u.kernel_time, percent, [](Scenario& x, double m) { x.uncertainty.kernel_time_scale *= m; }),
      multiplier("network bandwidth", u.network_bandwidth, percent,
                 [](Scenario& x, double m) { x.uncertainty.network_bandwidth_scale *= m; }),
      multiplier("GPU speed spread", u.speed_variation, factor, [](Scenario& x, double m) { x.cluster.gpu.speed_variation *= m; }),
      multiplier("interruption rate", u.interruption_rate, factor,
                 [](Scenario& x, double m) { x.reliability.interruptions_per_gpu_hour *= m; }),
  };
  knobs.back().run_only = true;
  auto choice = [](std::string input, std::string low, std::string high, void (*pick)(Scenario&, bool),
                   bool (*picked)(const Scenario&, bool)) {
    return Knob{std::move(input), [=](bool hi, double) { return hi ? high : low; },
                [=](Scenario& x, bool hi, double) { pick(x, hi); }, true, picked};
  };
  // Clocks: the profile's burst clocks against the sustained ones under the power cap.
  if (s.cluster.calibration && s.cluster.calibration->sustained_clock_ratio < 1.0)
    knobs.push_back(choice("clocks", "burst", "sustained",
                           [](Scenario& x, bool hi) { x.cluster.clocks = hi ? Clocks::sustained : Clocks::burst; },
                           [](const Scenario& x, bool hi) { return x.cluster.clocks == (hi ? Clocks::sustained : Clocks::burst); }));
  // A partitioned GEMM's rate beside communication kernels: its partition's alone, against the
  // GPU's measured slowdown (slowdown_beside_comm).
  if (gemms_partitioned(s) && s.training.precision == Precision::fp8 && s.cluster.gpu.slowdown_beside_comm > 0)
    knobs.push_back(choice("GEMMs beside comm", "alone", "slowed",
                           [](Scenario& x, bool hi) { x.cluster.slowdown_beside_comm = hi; },
                           [](const Scenario& x, bool hi) { return x.cluster.slowdown_beside_comm == hi; }));
  // Kernel jitter: every kernel at its mean time, against collectives waiting for the slowest
  // participant's jitter (kernel_jitter).
  if (std::max({s.parallel.ep, s.parallel.tp, s.parallel.cp}) > 1 && s.cluster.gpu.kernel_jitter > 0)
    knobs.push_back(choice("kernel jitter", "none", "measured", [](Scenario& x, bool hi) { x.cluster.jitter = hi; },
                           [](const Scenario& x, bool hi) { return x.cluster.jitter == hi; }));
  // Links: each transfer's closed form alone, against data- and pipeline-parallel transfers as
  // flows sharing the topology's links (cluster: {flows: true}).
  if (s.cluster.nodes > 1)
    knobs.push_back(choice("link sharing", "closed", "flows", [](Scenario& x, bool hi) { x.cluster.flows = hi; },
                           [](const Scenario& x, bool hi) { return x.cluster.flows == hi; }));
  // The host: kernels launched the moment they may run, against an eager framework's launches
  // (hardware/host.yaml).
  if (const double launch = s.cluster.host_launch_seconds; launch > 0)
    knobs.push_back({"host launches", [](bool hi, double) { return hi ? std::string("eager") : std::string("ideal"); },
                     [launch](Scenario& x, bool hi, double) { x.cluster.host_launch_seconds = hi ? launch : 0.0; }, true,
                     [](const Scenario&, bool hi) { return hi; }});
  if (s.model.ffn.moe && s.parallel.ep > 1) {
    const double drawn = expert_imbalance(s);
    auto value = [=](bool hi, double t) {
      const double end = hi ? u.expert_imbalance.high : u.expert_imbalance.low;
      return t >= 1 ? end : drawn + t * (end - drawn);
    };
    knobs.push_back({"expert load imbalance",
                     [=](bool hi, double t) { return t >= 1 ? fmt::format("{:.1f}", value(hi, t)) : fmt::format("{:.2f}", value(hi, t)); },
                     [=](Scenario& x, bool hi, double t) {
                       x.parallel.expert_imbalance = value(hi, t);
                       for (PhaseSpec& p : x.training.phases) p.parallel.expert_imbalance = x.parallel.expert_imbalance;
                     }});
  }
  if (std::any_of(s.training.phases.begin(), s.training.phases.end(), [](const PhaseSpec& p) { return p.kind != PhaseKind::train; }))
    knobs.push_back(multiplier("response length", u.response_length, percent, [](Scenario& x, double m) {
      for (PhaseSpec& p : x.training.phases) {
        LengthSpec& r = p.generation.response;
        // A truncated exponential's mean stays below its cap: 1% under it (assumed).
        const double cap = 0.99 * static_cast<double>(r.max_tokens);
        r.mean_from = std::min(cap, r.mean_from * m);
        r.mean_to = std::min(cap, r.mean_to * m);
      }
    }));
  std::vector<SensitivityRow> rows;
  for (const Knob& k : knobs) {
    SensitivityRow row;
    row.input = k.input;
    row.low = k.label(false, 1);
    row.high = k.label(true, 1);
    row.switch_only = k.switch_only;
    for (bool hi : {false, true}) {
      auto run_at = [&](double t) {
        Scenario x = s;
        k.apply(x, hi, t);
        return k.run_only ? account_run(x, base.phases) : rerun(x);
      };
      RunResult r;
      try {
        r = k.is_current && k.is_current(s, hi) ? base : run_at(1);
      } catch (const InfeasibleLayout& e) {
        if (k.switch_only) throw;
        // The layout does not fit at this end: the row stops at the most of the way that fits
        // (bisection to 1/1024 of the range; the scenario's own value fits).
        double fits = 0, fails = 1;
        for (int i = 0; i < 10; ++i) {
          const double t = (fits + fails) / 2;
          try {
            r = run_at(t);
            fits = t;
          } catch (const InfeasibleLayout&) {
            fails = t;
          }
        }
        if (fits == 0) r = base;
        (hi ? row.high : row.low) = k.label(hi, fits);
        row.notes.push_back(fmt::format("{} at {} does not fit ({}); its range ends at {}, the most that fits",
                                        k.input, k.label(hi, 1), e.what(), k.label(hi, fits)));
      }
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
    SensitivityRow price;
    price.input = "rental price";
    price.low = lo->first;
    price.high = hi->first;
    price.gpu_hours_low = price.gpu_hours_high = base.gpu_hours;
    price.cost_low = base.gpu_hours * lo->second;
    price.cost_high = base.gpu_hours * hi->second;
    rows.push_back(std::move(price));
  }
  return rows;
}

}  // namespace gpuhours

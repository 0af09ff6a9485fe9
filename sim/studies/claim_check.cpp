#include "gpuhours/check.hpp"
#include "gpuhours/simulated_run.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "gpuhours/error.hpp"
#include "gpuhours/yaml.hpp"

namespace gpuhours {

namespace {

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto i = static_cast<std::size_t>(pos);
  const double frac = pos - static_cast<double>(i);
  return i + 1 < v.size() ? v[i] * (1 - frac) + v[i + 1] * frac : v[i];
}

// The best published MFU for this GPU architecture and precision (hardware/published-mfu.yaml).
std::pair<double, std::string> best_published(const Scenario& s, const Catalog& catalog) {
  const YamlNode doc = YamlNode::load_file(catalog.root() + "/hardware/published-mfu.yaml");
  const std::string& family = s.cluster.gpu.architecture;
  double best = 0;
  std::string what;
  const std::string precision = to_string(s.training.precision);
  for (const YamlNode& b : doc.child("best").items()) {
    if (b.child("architecture").as_string() != family || b.child("precision").as_string() != precision) continue;
    const double mfu = b.child("mfu").as_positive_double();
    if (mfu > best) {
      best = mfu;
      what = b.child("what").as_string() + " (" + b.child("source").as_string() + ")";
    }
  }
  return {best, what};
}

}  // namespace

CheckResult check_scenario(const Scenario& s, const Catalog& catalog, std::uint64_t seed, int samples) {
  if (!s.claim || !s.claim->gpu_hours)
    throw InputError(s.file + ": the scenario has no claim.gpu_hours to check");
  CheckResult c;
  c.seed = seed;
  c.samples = samples;
  SimulatedRun simulated = simulate_run(s);
  c.step = std::move(simulated.step);
  c.run = std::move(simulated.run);
  c.claim = check_claim(s, c.run);
  c.inputs = sensitivity(s, c.run);
  // Monte Carlo on the separable surrogate.
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<double> hours, cost;
  double price_lo = s.cost.gpu_hour_usd, price_hi = s.cost.gpu_hour_usd;
  for (int i = 0; i < samples; ++i) {
    double h = c.run.gpu_hours;
    double price = s.cost.gpu_hour_usd;
    for (const SensitivityRow& r : c.inputs) {
      const double x = u(rng);
      if (r.input == "rental price") {
        price_lo = r.cost_low / r.gpu_hours_low;
        price_hi = r.cost_high / r.gpu_hours_high;
        price = price_lo + (price_hi - price_lo) * (x + 1) / 2;
        continue;
      }
      const double end = x < 0 ? r.gpu_hours_low : r.gpu_hours_high;
      h *= 1 + std::abs(x) * (end / c.run.gpu_hours - 1);
    }
    hours.push_back(h);
    cost.push_back(h * price);
  }
  // The simulated range is the central 80% of the samples (P10-P90), the band the verdict reads.
  c.gpu_hours = {percentile(hours, 0.1), percentile(hours, 0.5), percentile(hours, 0.9)};
  c.cost_usd = {percentile(cost, 0.1), percentile(cost, 0.5), percentile(cost, 0.9)};

  const double claimed = *s.claim->gpu_hours;
  c.claim.ratio = claimed / c.gpu_hours.p50;
  // Simulated phases only: their tokens in the claimed GPU-hours less the phases taken as
  // reported, at the simulated goodput (check_claim gives the MFU).
  double tokens = 0, reported = 0;
  for (const PhaseResult& p : c.run.phases) (p.simulated ? tokens : reported) += p.simulated ? p.tokens : p.gpu_hours;
  c.required_tokens_per_gpu_second = tokens / ((claimed - reported) * c.run.reliability.goodput * 3600.0);
  if (!c.claim.required_mfu) throw InputError(s.file + ": the claim leaves no GPU-hours for the simulated phases");
  std::tie(c.best_published_mfu, c.best_published_what) = best_published(s, catalog);

  const auto M = [](double v) { return fmt::format("{:.3f}M", v / 1e6); };
  const std::string range = fmt::format("{}-{} GPU-hours (P10-P90, median {})", M(c.gpu_hours.p10), M(c.gpu_hours.p90),
                                        M(c.gpu_hours.p50));
  if (claimed < c.gpu_hours.p10) {
    const bool beyond = c.best_published_mfu > 0 && *c.claim.required_mfu > c.best_published_mfu;
    c.verdict = beyond ? "Implausible as stated: the claim needs more efficiency than any published run on this hardware."
                       : "Ambitious: the claim is below the simulated range but within the best published efficiency.";
    c.reasons.push_back(fmt::format("The claim ({}) is below the simulated range of {}.", M(claimed), range));
  } else if (claimed > c.gpu_hours.p90) {
    c.verdict = "Plausible: the claim is above what the simulation needs.";
    c.reasons.push_back(fmt::format(
        "The claim ({}) is {:.0f}% above the simulated median ({}); the difference leaves room for what the model "
        "leaves out (evaluation, stragglers, data loading, restarts beyond the failure model, a less tuned "
        "implementation).", M(claimed), 100 * (c.claim.ratio.value() - 1), range));
  } else {
    c.verdict = "Consistent: the claim lies inside the simulated range.";
    c.reasons.push_back(fmt::format("The claim ({}) lies inside the simulated range of {}.", M(claimed), range));
  }
  c.reasons.push_back(fmt::format(
      "For the claim to hold, the cluster must sustain {:.0f} tokens/s per GPU, an MFU of {:.1f}% against the "
      "{} peak (simulated: {:.1f}%).", c.required_tokens_per_gpu_second, 100 * *c.claim.required_mfu,
      to_string(s.training.precision), 100 * c.run.mfu));
  if (c.best_published_mfu > 0)
    c.reasons.push_back(fmt::format("The best published MFU for this hardware and precision is {:.1f}%: {}.",
                                    100 * c.best_published_mfu, c.best_published_what));
  else
    c.reasons.push_back(fmt::format("No published MFU for {} GPUs in {} is on file (hardware/published-mfu.yaml), so "
                                    "the required MFU is set against none.",
                                    s.cluster.gpu.architecture, to_string(s.training.precision)));
  auto dominant = [](const RunResult& run) {
    const PhaseResult* best = &run.phases.front();
    for (const PhaseResult& p : run.phases)
      if (p.gpu_hours > best->gpu_hours) best = &p;
    return std::pair{best->name, best->gpu_hours / std::max(run.useful_gpu_hours, 1e-30)};
  };
  std::tie(c.dominant_phase, c.dominant_share) = dominant(c.run);
  c.reasons.push_back(fmt::format("The phase that dominates is '{}' ({:.0f}% of the simulated GPU-hours).", c.dominant_phase,
                                  100 * c.dominant_share));
  if (!c.claim.phases.empty()) {
    std::string by_phase;
    for (const auto& p : c.claim.phases)
      by_phase += fmt::format("{}'{}' claimed {} vs simulated {} ({:.2f})", by_phase.empty() ? "" : "; ", p.name,
                              M(p.claimed_gpu_hours), M(p.simulated_gpu_hours), p.claimed_gpu_hours / p.simulated_gpu_hours);
    c.reasons.push_back("By phase (GPU-hours, claimed / simulated): " + by_phase + ".");
  }
  if (!s.claim->baseline.empty()) {
    const Scenario base = load_scenario(s.claim->baseline, catalog);
    if (!base.claim || !base.claim->gpu_hours)
      throw InputError(base.file + ": the baseline of " + s.name + " needs its own claim.gpu_hours");
    const RunResult br = simulate_run(base).run;
    CheckResult::Baseline b;
    b.name = base.name;
    b.claimed_gpu_hours = *base.claim->gpu_hours;
    b.simulated_gpu_hours = br.gpu_hours;
    b.claimed_saving = *s.claim->saving;
    b.simulated_saving = 1.0 - c.run.gpu_hours / br.gpu_hours;
    b.dominant_phase = dominant(br).first;
    c.reasons.push_back(fmt::format(
        "Against {}: claimed {} vs {} GPU-hours, a {:.1f}% saving; simulated {} vs {}, a {:.1f}% saving "
        "(dominant phases: '{}' and '{}').", b.name, M(claimed), M(b.claimed_gpu_hours), 100 * b.claimed_saving,
        M(c.run.gpu_hours), M(b.simulated_gpu_hours), 100 * b.simulated_saving, c.dominant_phase, b.dominant_phase));
    c.baseline = b;
  }
  const SensitivityRow* top = nullptr;
  for (const auto& r : c.inputs)
    if (r.input != "rental price") {
      top = &r;
      break;
    }
  if (top)
    c.reasons.push_back(fmt::format("The most uncertain input is {} ({} to {} moves GPU-hours by {:+.0f}% to {:+.0f}%).",
                                    top->input, top->low, top->high, 100 * (top->gpu_hours_low / c.run.gpu_hours - 1),
                                    100 * (top->gpu_hours_high / c.run.gpu_hours - 1)));
  return c;
}

}  // namespace gpuhours

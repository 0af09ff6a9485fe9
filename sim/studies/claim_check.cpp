#include "gpuhours/check.hpp"
#include "gpuhours/simulated_run.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "gpuhours/error.hpp"
#include "gpuhours/units.hpp"
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

// "kernel time -15% to +15%, ..., and the rental price $2.00 to $6.88 per GPU-hour (cost only)".
std::string range_inputs(const std::vector<SensitivityRow>& inputs) {
  std::string out;
  for (const SensitivityRow& r : inputs) {
    if (r.switch_only) continue;
    if (!out.empty()) out += ", ";
    if (r.input == "rental price")
      out += fmt::format("the rental price ${:.2f} ({}) to ${:.2f} ({}) per GPU-hour (cost only)", r.cost_low / r.gpu_hours_low,
                         r.low, r.cost_high / r.gpu_hours_high, r.high);
    else
      out += fmt::format("{} {} to {}", r.input, r.low, r.high);
  }
  return out;
}

// After the sentence naming the range's inputs: where an input's range stops short of its stated
// end because the layout runs out of memory there (sensitivity's notes).
void add_range_notes(CheckResult& c) {
  for (const SensitivityRow& r : c.inputs)
    for (const std::string& note : r.notes) c.reasons.push_back("In that range, " + note + ".");
}

// A counterfactual: the run set beside the scenario it varies, with that scenario's claim.
CheckResult counterfactual(const Scenario& s, const Catalog& catalog, CheckResult c) {
  const Scenario base = load_scenario(s.counterfactual_of, catalog);
  const SimulatedRun b = simulate_run(base);
  CheckResult::Counterfactual cf;
  cf.name = base.name;
  cf.title = base.title;
  cf.gpu_hours = c.run.gpu_hours;
  cf.simulated_gpu_hours = b.run.gpu_hours;
  cf.step_seconds = b.step.seconds;
  cf.mfu = b.run.mfu;
  cf.cost_usd = b.run.costs.rental_usd;
  if (base.claim) cf.claimed_gpu_hours = base.claim->gpu_hours;
  c.category = Verdict::counterfactual;
  c.verdict = fmt::format("A counterfactual of '{}': {} GPU-hours, {:.2f}x the {} GPU-hours simulated for it.", base.name,
                          three_figures(c.run.gpu_hours), c.run.gpu_hours / b.run.gpu_hours, three_figures(b.run.gpu_hours));
  c.reasons.push_back(fmt::format("'{}' ({}) is the run this scenario varies; this is a comparison, not a verdict on its claim.",
                                  base.name, base.title));
  c.reasons.push_back(fmt::format("Step {:.2f} s against {:.2f} s ({:.2f}x); MFU {:.1f}% against {:.1f}%; rental cost {:.3g} "
                                  "against {:.3g} USD at each scenario's price.",
                                  c.step.seconds, b.step.seconds, c.step.seconds / b.step.seconds, 100 * c.run.mfu,
                                  100 * b.run.mfu, c.run.costs.rental_usd, b.run.costs.rental_usd));
  if (cf.claimed_gpu_hours)
    c.reasons.push_back(fmt::format("'{}' claims {} GPU-hours: this run would take {:.2f}x that.", base.name,
                                    three_figures(*cf.claimed_gpu_hours), c.run.gpu_hours / *cf.claimed_gpu_hours));
  c.reasons.push_back(fmt::format("This run's range, P10-P90: {}-{} GPU-hours, varying {}.", three_figures(c.gpu_hours.p10),
                                  three_figures(c.gpu_hours.p90), c.range_inputs));
  add_range_notes(c);
  c.counterfactual = cf;
  return c;
}

}  // namespace

VerdictScale load_verdict_scale(const Catalog& catalog) {
  const YamlNode doc = YamlNode::load_file(catalog.root() + "/hardware/verdict-scale.yaml");
  doc.check_keys({{"sources", true, ""}, {"impossible_mfu", true, ""}, {"far_above_ratio", true, ""}});
  const auto sources = load_sources(doc);
  VerdictScale v;
  for (auto [key, value] : {std::pair{"impossible_mfu", &v.impossible_mfu}, {"far_above_ratio", &v.far_above_ratio}}) {
    const YamlNode n = doc.child(key);
    n.check_keys({{"value", true, ""}, {"source", true, "key of sources"}, {"note", false, ""}});
    check_sources(n, sources);
    *value = n.child("value").as_positive_double();
  }
  if (v.far_above_ratio <= 1) throw doc.child("far_above_ratio").error("must exceed 1");
  return v;
}

Verdict classify_claim(const VerdictScale& scale, double claimed, const Percentiles& range, double required_mfu,
                       double best_published_mfu) {
  if (required_mfu > scale.impossible_mfu) return Verdict::impossible;
  if (claimed < range.p10)
    return best_published_mfu > 0 && required_mfu > best_published_mfu ? Verdict::beyond_published : Verdict::ambitious;
  if (claimed <= range.p90) return Verdict::consistent;
  return claimed > scale.far_above_ratio * range.p50 ? Verdict::far_above : Verdict::above_range;
}

CheckResult check_scenario(const Scenario& s, const Catalog& catalog, std::uint64_t seed, int samples) {
  const bool cf = !s.counterfactual_of.empty();
  if (!cf && (!s.claim || !s.claim->gpu_hours))
    throw InputError(s.file + ": field 'claim': missing; check needs claim.gpu_hours (or claim.phases) to judge, or "
                     "counterfactual_of to set the scenario beside another (gpuhours run simulates it without a claim)");
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
      if (r.switch_only) continue;
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
  c.range_inputs = range_inputs(c.inputs);
  if (cf) return counterfactual(s, catalog, std::move(c));

  const double claimed = *s.claim->gpu_hours;
  c.claim.ratio = claimed / c.gpu_hours.p50;
  // Simulated phases only: their tokens in the claimed GPU-hours less the phases taken as
  // reported, at the simulated goodput (check_claim gives the MFU).
  double tokens = 0, reported = 0;
  for (const PhaseResult& p : c.run.phases) (p.simulated ? tokens : reported) += p.simulated ? p.tokens : p.gpu_hours;
  c.required_tokens_per_gpu_second = tokens / ((claimed - reported) * c.run.reliability.goodput * 3600.0);
  if (!c.claim.required_mfu) throw InputError(s.file + ": the claim leaves no GPU-hours for the simulated phases");
  std::tie(c.best_published_mfu, c.best_published_what) = best_published(s, catalog);

  const auto M = three_figures;  // prose: 3 significant figures; tables and JSON keep full values
  const std::string range = fmt::format("{}-{} GPU-hours (P10-P90, median {})", M(c.gpu_hours.p10), M(c.gpu_hours.p90),
                                        M(c.gpu_hours.p50));
  const double required = *c.claim.required_mfu;
  c.category = classify_claim(load_verdict_scale(catalog), claimed, c.gpu_hours, required, c.best_published_mfu);
  switch (c.category) {
    case Verdict::impossible:
      c.verdict = fmt::format("Impossible as described: the claim needs the GPUs to compute at {:.0f}% of their datasheet "
                              "peak, and no GPU computes beyond 100%.", 100 * required);
      c.reasons.push_back(fmt::format("The claim ({}) is {:.2f}x below the simulated median; either it counts only part of "
                                      "the GPU-hours this run needs, or the run differs from its description (fewer "
                                      "tokens, a smaller model, other hardware).", M(claimed), 1 / c.claim.ratio.value()));
      break;
    case Verdict::beyond_published:
    case Verdict::ambitious:
      c.verdict = c.category == Verdict::beyond_published
                      ? "Implausible as stated: the claim needs more efficiency than any published run on this hardware."
                      : "Ambitious: the claim is below the simulated range but within the best published efficiency.";
      c.reasons.push_back(fmt::format("The claim ({}) is below the simulated range of {}.", M(claimed), range));
      break;
    case Verdict::consistent:
      c.verdict = "Consistent: the claim lies inside the simulated range.";
      c.reasons.push_back(fmt::format("The claim ({}) lies inside the simulated range of {}.", M(claimed), range));
      break;
    case Verdict::above_range:
      c.verdict = "Consistent with what the simulation leaves out: the claim is above the simulated range.";
      c.reasons.push_back(fmt::format(
          "The claim ({}) is {:.0f}% above the simulated median ({}); the difference leaves room for what the model "
          "leaves out (evaluation, data loading, restarts beyond the failure model, a less tuned "
          "implementation).", M(claimed), 100 * (c.claim.ratio.value() - 1), range));
      break;
    case Verdict::far_above:
      c.verdict = fmt::format("Far more compute than this run needs: the claim is {:.1f}x the simulated median.",
                              c.claim.ratio.value());
      c.reasons.push_back(fmt::format(
          "The claim ({}) against the simulated range of {}: it leaves the run an MFU of only {:.1f}%. It most likely "
          "covers more than this run (ablations, failed runs, other phases), or the run is not as described.",
          M(claimed), range, 100 * required));
      break;
    case Verdict::counterfactual:
      break;
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
  if (s.claim->cost_usd) {
    // The claim's own price per GPU-hour, applied to the simulated GPU-hours: the cost claim
    // checked on its own terms, beside the market range.
    CheckResult::CostAtClaimPrice k;
    k.usd_per_gpu_hour = *s.claim->cost_usd / claimed;
    k.claimed_usd = *s.claim->cost_usd;
    k.simulated_usd = c.run.gpu_hours * k.usd_per_gpu_hour;
    c.reasons.push_back(fmt::format(
        "At the claim's own price of ${:.2f} per GPU-hour, the simulated run costs ${} against the claimed ${} ({:.2f}x); "
        "at market prices it would cost ${}-${} (P10-P90).",
        k.usd_per_gpu_hour, M(k.simulated_usd), M(k.claimed_usd), k.claimed_usd / k.simulated_usd, M(c.cost_usd.p10),
        M(c.cost_usd.p90)));
    c.cost_at_claim_price = k;
  }
  c.reasons.push_back("The simulated range (P10-P90 of " + std::to_string(c.samples) + " samples) varies " + c.range_inputs + ".");
  add_range_notes(c);
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

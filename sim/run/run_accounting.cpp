#include "gpuhours/run.hpp"

#include <algorithm>
#include <cmath>
#include <optional>

#include "gpuhours/error.hpp"

namespace gpuhours {

ReliabilityResult reliability(const Scenario& s, double useful_gpu_hours);
CostResult price(const Scenario& s, const RunResult& run, double kw_per_gpu);

namespace {

PhaseResult simulated_phase(const Scenario& s, const std::string& name, double tokens, const StepResult& step) {
  PhaseResult p;
  p.name = name;
  p.tokens = tokens;
  p.seq_len = s.training.seq_len;
  p.global_batch = s.training.global_batch;
  p.steps = tokens / static_cast<double>(step.tokens);
  p.step_seconds = step.seconds;
  p.mfu = step.mfu;
  const double seconds = p.steps * step.seconds;
  p.gpu_hours = seconds * s.cluster.gpus() / 3600.0;
  p.wall_clock_days = seconds / 86400.0;
  return p;
}

// Simulates `s` with another batch / shape / layout, naming the phase in an infeasibility.
StepResult step_of(const Scenario& s, const std::string& phase) {
  try {
    return simulate_step(s);
  } catch (const InfeasibleLayout& e) {
    throw InfeasibleLayout("phase '" + phase + "': " + e.what());
  }
}

}  // namespace

RunResult account_run(const Scenario& s, const StepResult& step) {
  RunResult r;
  const TrainingSpec& t = s.training;
  double main_tokens = t.tokens;
  if (t.batch_ramp) {
    // Batch grown linearly over the ramp's tokens: `points` batch sizes, each for an equal share
    // of the ramp's tokens, rounded to what data parallelism can split.
    const BatchRamp& ramp = *t.batch_ramp;
    const std::int64_t unit = std::int64_t{s.dp()} * s.parallel.micro_batch;
    for (int i = 0; i < ramp.points; ++i) {
      const double b = static_cast<double>(ramp.from) +
                       (static_cast<double>(t.global_batch - ramp.from)) * (i + 0.5) / ramp.points;
      Scenario at = s;
      // The nearest batch the data parallelism splits and the schedule accepts (DualPipe wants an
      // even micro-batch count of at least twice the stages), searching upwards.
      std::int64_t batch = std::max<std::int64_t>(unit, static_cast<std::int64_t>(std::llround(b / unit)) * unit);
      std::optional<StepResult> result;
      for (int tries = 0; !result; ++tries, batch += unit) {
        at.training.global_batch = batch;
        try {
          result = simulate_step(at);
        } catch (const InfeasibleLayout&) {
          if (tries >= 2 * s.parallel.pp + 2 || batch >= t.global_batch) throw;
        }
      }
      const std::string name = "ramp, batch " + std::to_string(at.training.global_batch);
      r.phases.push_back(simulated_phase(at, name, ramp.tokens / ramp.points, *result));
    }
    main_tokens -= ramp.tokens;
  }
  r.phases.push_back(simulated_phase(s, "main", main_tokens, step));
  for (const PhaseSpec& ph : t.phases) {
    if (ph.reported_gpu_hours) {
      PhaseResult p;
      p.name = ph.name;
      p.simulated = false;
      p.gpu_hours = *ph.reported_gpu_hours;
      p.wall_clock_days = p.gpu_hours / s.cluster.gpus() / 24.0;
      p.note = "taken as reported, not simulated" + (ph.source.empty() ? std::string() : ": " + ph.source);
      r.phases.push_back(p);
      continue;
    }
    Scenario at = s;
    at.parallel = ph.parallel;
    at.training.seq_len = ph.seq_len;
    at.training.global_batch = ph.global_batch;
    at.training.batch_ramp.reset();
    r.phases.push_back(simulated_phase(at, ph.name, ph.tokens, step_of(at, ph.name)));
    r.phases.back().note = ph.source;
  }
  double simulated_hours = 0, reported_hours = 0;
  for (const PhaseResult& p : r.phases) {
    r.steps += p.steps;
    (p.simulated ? simulated_hours : reported_hours) += p.gpu_hours;
  }
  r.useful_gpu_hours = simulated_hours + reported_hours;
  r.reliability = reliability(s, simulated_hours);
  const double scaled = simulated_hours / r.reliability.goodput;
  r.gpu_hours = scaled + reported_hours;
  r.reliability.checkpoint_gpu_hours = simulated_hours * r.reliability.checkpoint_seconds /
                                       std::max(r.reliability.interval_seconds, 1e-30);
  if (!r.reliability.enabled) r.reliability.checkpoint_gpu_hours = 0;
  r.reliability.lost_gpu_hours = scaled - simulated_hours - r.reliability.checkpoint_gpu_hours;
  r.wall_clock_days = r.gpu_hours / s.cluster.gpus() / 24.0;
  r.cost_usd = r.gpu_hours * s.cost.gpu_hour_usd;
  const OwnedCostSpec& o = s.cost.owned;
  // Facility energy (Epoch AI): GPU TDP x average power fraction x server overhead x PUE.
  const double kw_per_gpu = s.cluster.gpu.tdp_watts / 1000.0 * o.avg_power_fraction * o.server_power_factor * o.pue;
  r.energy_mwh = r.gpu_hours * kw_per_gpu / 1000.0;
  if (s.cost.carbon_t_per_mwh) r.co2_tonnes = r.energy_mwh * *s.cost.carbon_t_per_mwh;
  r.costs = price(s, r, kw_per_gpu);
  return r;
}

ReliabilityResult reliability(const Scenario& s, double useful_gpu_hours) {
  ReliabilityResult r;
  const ReliabilitySpec& spec = s.reliability;
  if (!spec.enabled || spec.interruptions_per_gpu_hour <= 0 || useful_gpu_hours <= 0) return r;
  r.enabled = true;
  // Checkpoint: BF16 weights + FP32 master weights and moments (MTP included).
  const ParamCount p = count_params(s.model);
  r.checkpoint_bytes = static_cast<double>(p.total + p.mtp) * (2.0 + (s.training.bf16_moments ? 8.0 : 12.0));
  r.checkpoint_seconds = r.checkpoint_bytes / (s.cluster.nodes * spec.checkpoint_write_bytes_per_s_per_node);
  const double mtbi = 3600.0 / (spec.interruptions_per_gpu_hour * s.cluster.gpus());
  r.mtbi_hours = mtbi / 3600.0;
  r.interval_seconds = std::sqrt(2.0 * r.checkpoint_seconds * mtbi);  // Young 1974
  const double lost = r.interval_seconds / 2 + r.checkpoint_seconds + spec.restart_seconds;
  if (lost >= mtbi)
    throw InfeasibleLayout("interruptions every " + std::to_string(r.mtbi_hours) +
                           " h are too frequent to make progress with this checkpoint and restart time");
  const double wall_per_useful = (1.0 + r.checkpoint_seconds / r.interval_seconds) / (1.0 - lost / mtbi);
  r.goodput = 1.0 / wall_per_useful;
  r.interruptions = useful_gpu_hours * wall_per_useful * spec.interruptions_per_gpu_hour;
  return r;
}

CostResult price(const Scenario& s, const RunResult& run, double kw_per_gpu) {
  CostResult c;
  c.rental_usd = run.gpu_hours * s.cost.gpu_hour_usd;
  for (const auto& [name, usd] : s.cost.rental_presets) c.rental_presets_usd[name] = run.gpu_hours * usd;
  // Owned cluster (Epoch AI, cost_analysis_standalone.py): server value = GPU price x server
  // overhead, amortised at 0.322 of its value a year over 8,766 hours; the interconnect is
  // interconnect_fraction of the cluster's cost; plus cost of capital and energy at the facility.
  const OwnedCostSpec& o = s.cost.owned;
  const double server = o.gpu_price_usd * o.server_overhead;
  const double hardware = server * (o.amortisation_per_year + o.cost_of_capital_per_year) / 8766.0;
  const double interconnect = hardware * o.interconnect_fraction / (1.0 - o.interconnect_fraction);
  const double energy = kw_per_gpu * o.electricity_usd_per_kwh;
  c.owned_usd_per_gpu_hour = hardware + interconnect + energy;
  c.owned_usd = run.gpu_hours * c.owned_usd_per_gpu_hour;
  c.owned_energy_usd = run.gpu_hours * energy;
  c.programme_gpu_hours = run.gpu_hours;
  if (s.cost.programme) {
    c.programme_gpu_hours = run.gpu_hours * s.cost.programme->multiplier;
    for (const auto& [name, hours] : s.cost.programme->extra_gpu_hours) c.programme_gpu_hours += hours;
  }
  c.programme_usd = c.programme_gpu_hours * s.cost.gpu_hour_usd;
  return c;
}

ClaimResult check_claim(const Scenario& s, const StepResult& step, const RunResult& run) {
  ClaimResult c;
  if (!s.claim) return c;
  c.source = s.claim->source;
  c.cost_usd = s.claim->cost_usd;
  c.gpu_hours = s.claim->gpu_hours;
  if (c.gpu_hours) {
    c.ratio = *c.gpu_hours / run.gpu_hours;
    // Same work in fewer GPU-hours needs proportionally more model FLOPs per GPU-second.
    c.required_mfu = step.mfu * run.gpu_hours / *c.gpu_hours;
  }
  return c;
}

}  // namespace gpuhours

#include "gpuhours/run.hpp"

#include <algorithm>
#include <cmath>
#include <optional>

#include <fmt/format.h>

#include "gpuhours/error.hpp"
#include "gpuhours/infeasible.hpp"

namespace gpuhours {

RunResult account_run(const Scenario& s, std::vector<PhaseResult> phases) {
  RunResult r;
  r.phases = std::move(phases);
  double simulated_hours = 0, reported_hours = 0;
  for (const PhaseResult& p : r.phases) {
    r.steps += p.steps;
    (p.simulated ? simulated_hours : reported_hours) += p.gpu_hours;
  }
  r.useful_gpu_hours = simulated_hours + reported_hours;
  double flops = 0, peak_seconds = 0;
  for (const PhaseResult& p : r.phases)
    if (p.simulated) {
      flops += p.model_flops;
      peak_seconds += p.mfu > 0 ? p.model_flops / p.mfu : 0;  // GPU-seconds x peak of that phase
    }
  r.mfu = peak_seconds > 0 ? flops / peak_seconds : 0;
  r.reliability = reliability(s, simulated_hours);
  const double scaled = simulated_hours / r.reliability.goodput;
  r.gpu_hours = scaled + reported_hours;
  r.reliability.checkpoint_gpu_hours = simulated_hours * r.reliability.checkpoint_seconds /
                                       std::max(r.reliability.interval_seconds, 1e-30);
  if (!r.reliability.enabled) r.reliability.checkpoint_gpu_hours = 0;
  r.reliability.lost_gpu_hours = scaled - simulated_hours - r.reliability.checkpoint_gpu_hours;
  // Phases run one after another, each on its own cluster; interruptions stretch simulated ones.
  for (const PhaseResult& p : r.phases) r.wall_clock_days += p.wall_clock_days / (p.simulated ? r.reliability.goodput : 1.0);
  r.cost_usd = r.gpu_hours * s.cost.gpu_hour_usd;
  const double kw_per_gpu = facility_kw_per_gpu(s);
  r.energy_mwh = r.gpu_hours * kw_per_gpu / 1000.0;
  if (s.cost.carbon_t_per_mwh) r.co2_tonnes = r.energy_mwh * *s.cost.carbon_t_per_mwh;
  r.costs = price(s, r);
  return r;
}

ReliabilityResult reliability(const Scenario& s, double useful_gpu_hours) {
  ReliabilityResult r;
  const ReliabilitySpec& spec = s.reliability;
  if (!spec.enabled || spec.interruptions_per_gpu_hour <= 0 || useful_gpu_hours <= 0) return r;
  r.enabled = true;
  // Checkpoint: BF16 weights + FP32 master weights and moments (MTP included).
  const ParamCount p = count_params(s.model);
  const OptimizerBytes b = optimizer_bytes(s.training);
  r.checkpoint_bytes = static_cast<double>(p.total + p.mtp) * (b.weights + b.states());
  r.checkpoint_seconds = r.checkpoint_bytes / (s.cluster.nodes * spec.checkpoint_write_bytes_per_s_per_node);
  const double mtbi = 3600.0 / (spec.interruptions_per_gpu_hour * s.cluster.gpus());
  r.mtbi_hours = mtbi / 3600.0;
  r.interval_seconds = std::sqrt(2.0 * r.checkpoint_seconds * mtbi);  // Young 1974
  const double lost = r.interval_seconds / 2 + r.checkpoint_seconds + spec.restart_seconds;
  if (lost >= mtbi)
    throw InfeasibleLayout(Infeasibility::interruptions, "interruptions every " + std::to_string(r.mtbi_hours) +
                           " h are too frequent to make progress with this checkpoint and restart time");
  const double wall_per_useful = (1.0 + r.checkpoint_seconds / r.interval_seconds) / (1.0 - lost / mtbi);
  r.goodput = 1.0 / wall_per_useful;
  r.interruptions = useful_gpu_hours * wall_per_useful * spec.interruptions_per_gpu_hour;
  return r;
}

double facility_kw_per_gpu(const Scenario& s) {
  const OwnedCostSpec& o = s.cost.owned;
  return s.cluster.gpu.tdp_watts / 1000.0 * o.avg_power_fraction * o.server_power_factor * o.pue;
}

double owned_usd_per_gpu_hour(const Scenario& s) {
  // Owned cluster (Epoch AI, cost_analysis_standalone.py): server value = GPU price x server
  // overhead, amortised at 0.322 of its value a year over 8,766 hours; the interconnect is
  // interconnect_fraction of the cluster's cost; plus cost of capital and energy at the facility.
  const OwnedCostSpec& o = s.cost.owned;
  const double server = o.gpu_price_usd * o.server_overhead;
  const double hardware = server * (o.amortisation_per_year + o.cost_of_capital_per_year) / 8766.0;
  const double interconnect = hardware * o.interconnect_fraction / (1.0 - o.interconnect_fraction);
  return hardware + interconnect + facility_kw_per_gpu(s) * o.electricity_usd_per_kwh;
}

CostResult price(const Scenario& s, const RunResult& run) {
  CostResult c;
  c.rental_usd = run.gpu_hours * s.cost.gpu_hour_usd;
  for (const auto& [name, usd] : s.cost.rental_presets) c.rental_presets_usd[name] = run.gpu_hours * usd;
  const double energy = facility_kw_per_gpu(s) * s.cost.owned.electricity_usd_per_kwh;
  c.owned_usd_per_gpu_hour = owned_usd_per_gpu_hour(s);
  c.owned_usd = run.gpu_hours * c.owned_usd_per_gpu_hour;
  c.owned_energy_usd = run.gpu_hours * energy;
  c.programme_gpu_hours = run.gpu_hours;
  if (s.cost.programme) {
    c.programme_gpu_hours = run.gpu_hours * s.cost.programme->multiplier;
    for (const auto& [name, hours] : s.cost.programme->extra_gpu_hours) c.programme_gpu_hours += hours;
  }
  c.programme_usd = c.programme_gpu_hours * s.cost.gpu_hour_usd;
  if (s.cost.programme && s.cost.programme->range) {
    const double fixed = c.programme_gpu_hours - run.gpu_hours * s.cost.programme->multiplier;
    c.programme_gpu_hours_range = {run.gpu_hours * s.cost.programme->range->first + fixed,
                                   run.gpu_hours * s.cost.programme->range->second + fixed};
  }
  if (s.cost.fleet) {
    const OwnedCostSpec& o = s.cost.owned;
    c.fleet_usd_per_year = s.cost.fleet->capex_usd * (o.amortisation_per_year + o.cost_of_capital_per_year) +
                           s.cost.fleet->gpus * facility_kw_per_gpu(s) * 8766.0 * o.electricity_usd_per_kwh;
  }
  for (const PhaseResult& p : run.phases)
    if (p.api_usd) {
      c.api_usd = c.api_usd.value_or(0) + *p.api_usd;
      const double hours = p.simulated ? p.gpu_hours / run.reliability.goodput : p.gpu_hours;
      c.api_route_usd = c.api_route_usd.value_or(c.rental_usd) - hours * s.cost.gpu_hour_usd + *p.api_usd;
    }
  return c;
}

ClaimResult check_claim(const Scenario& s, const RunResult& run) {
  ClaimResult c;
  if (!s.claim) return c;
  c.source = s.claim->source;
  c.cost_usd = s.claim->cost_usd;
  c.gpu_hours = s.claim->gpu_hours;
  for (const auto& [key, claimed] : s.claim->phase_gpu_hours) {
    ClaimResult::Phase ph{key, claimed, 0};
    for (const PhaseResult& p : run.phases)
      if (p.name == key || p.name.rfind(key + "/", 0) == 0)
        ph.simulated_gpu_hours += p.simulated ? p.gpu_hours / run.reliability.goodput : p.gpu_hours;
    c.phases.push_back(ph);
  }
  if (c.gpu_hours) {
    c.ratio = *c.gpu_hours / run.gpu_hours;
    // The model FLOPs of the simulated phases done in the claimed GPU-hours (less the phases taken
    // as reported), at the simulated goodput: the MFU the training steps must reach.
    double flops = 0, reported = 0;
    for (const PhaseResult& p : run.phases) (p.simulated ? flops : reported) += p.simulated ? p.model_flops : p.gpu_hours;
    const double hours = (*c.gpu_hours - reported) * run.reliability.goodput;
    if (hours > 0 && flops > 0) c.required_mfu = flops / (hours * 3600.0 * peak_flops_per_s(s.cluster.gpu, s.training.precision));
  }
  return c;
}

}  // namespace gpuhours

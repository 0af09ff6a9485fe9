#include "gpuhours/run.hpp"

#include <algorithm>
#include <cmath>
#include <optional>

#include <fmt/format.h>

#include "gpuhours/error.hpp"
#include "gpuhours/infeasible.hpp"
#include "gpuhours/inference.hpp"

namespace gpuhours {

ReliabilityResult reliability(const Scenario& s, double useful_gpu_hours);

namespace {

double peak_flops(const Scenario& s) {
  return peak_flops_per_s(s.cluster.gpu, s.training.precision);
}

PhaseResult simulated_phase(const Scenario& s, const std::string& name, double tokens, const StepResult& step) {
  PhaseResult p;
  p.name = name;
  p.gpus = s.cluster.gpus();
  p.tokens = tokens;
  p.seq_len = s.training.seq_len;
  p.global_batch = s.training.global_batch;
  p.steps = tokens / static_cast<double>(step.tokens);
  p.step_seconds = step.seconds;
  p.mfu = step.mfu;
  p.model_flops = tokens * step.model_flops_per_token;
  const double seconds = p.steps * step.seconds;
  p.gpu_hours = seconds * p.gpus / 3600.0;
  p.wall_clock_days = seconds / 86400.0;
  return p;
}

// Simulates `s` with another batch / shape / layout, naming the phase in an infeasibility.
StepResult step_of(const Scenario& s, const std::string& phase) {
  try {
    return simulate_step(s);
  } catch (const InfeasibleLayout& e) {
    throw e.within("phase '" + phase + "': ");
  }
}

GenerationResult generation_of(const Scenario& s, const PhaseSpec& ph, double mean) {
  try {
    return simulate_generation(s, ph.generation, mean);
  } catch (const InfeasibleLayout& e) {
    throw e.within("phase '" + ph.name + "': generation: ");
  }
}

// Simulates `at` at the nearest batch of at least `sequences` that data parallelism splits and the
// schedule accepts (DualPipe wants an even micro-batch count of at least twice the stages),
// searching upwards to `limit` (0: twice the stages' worth); sets at.training.global_batch.
StepResult step_at_batch(Scenario& at, std::int64_t sequences, std::int64_t limit, const std::string& phase) {
  const std::int64_t unit = std::int64_t{at.dp()} * at.parallel.micro_batch;
  std::int64_t batch = std::max<std::int64_t>(1, (sequences + unit / 2) / unit) * unit;
  if (limit == 0) limit = std::max(batch, unit * (2 * at.parallel.pp * at.parallel.virtual_stages + 2));
  for (;; batch += unit) {
    at.training.global_batch = batch;
    try {
      return simulate_step(at);
    } catch (const InfeasibleLayout& e) {
      if (batch + unit > limit) throw e.within("phase '" + phase + "': ");
    }
  }
}

// The scenario a later phase runs: its model, cluster, layout and shape.
Scenario phase_scenario(const Scenario& s, const PhaseSpec& ph) {
  Scenario at = s;
  if (ph.model) at.model = *ph.model;
  if (ph.cluster) at.cluster = *ph.cluster;
  at.parallel = ph.parallel;
  at.training.seq_len = ph.seq_len;
  at.training.global_batch = ph.global_batch;
  at.training.batch_ramp.reset();
  return at;
}

// Means of a response length simulated along the phase (midpoints of `points` equal shares).
std::vector<double> length_points(const LengthSpec& len) {
  const int points = len.mean_from == len.mean_to ? 1 : len.points;
  std::vector<double> out;
  for (int i = 0; i < points; ++i) out.push_back(len.mean_from + (len.mean_to - len.mean_from) * (i + 0.5) / points);
  return out;
}

// One RL phase: each step generates its share of a rollout (prompts x samples x updates per
// rollout outputs, simulated as inference on the same GPUs), runs the forward-only passes the
// algorithm needs and updates the policy (PPO: and the critic) on the generated tokens, packed
// into sequences of the phase's seq_len. A forward-only pass costs a third of an update step: 2 of
// the 6 FLOPs per parameter per token (Kaplan et al. 2020).
PhaseResult rl_phase(const Scenario& at, const PhaseSpec& ph) {
  const RlSpec& rl = ph.rl;
  const bool ppo = rl.algorithm == "ppo";
  // GRPO: the old policy's log-probabilities when a rollout feeds several updates, the reference
  // policy's for the KL term; PPO adds the critic's values (and updates the critic, same size).
  const int forward_passes = (rl.updates_per_rollout > 1 ? 1 : 0) + (rl.reference_model ? 1 : 0) +
                             (rl.reward_model ? 1 : 0) + (ppo ? 1 : 0);
  const int updates = ppo ? 2 : 1;
  PhaseResult p;
  p.name = ph.name;
  p.kind = "rl";
  p.gpus = at.cluster.gpus();
  p.steps = ph.steps;
  p.seq_len = ph.seq_len;
  const std::vector<double> means = length_points(ph.generation.response);
  const double share = ph.steps / static_cast<double>(means.size());
  double seconds = 0, generation_seconds = 0, decode_rate = 0;
  for (double mean : means) {
    const GenerationResult gen = generation_of(at, ph, mean);
    const double outputs_per_update = static_cast<double>(rl.prompts_per_step * rl.samples_per_prompt);
    const double tokens = outputs_per_update * (ph.generation.prompt_tokens + gen.output_tokens / static_cast<double>(gen.outputs));
    Scenario upd = at;
    const auto sequences = static_cast<std::int64_t>(std::ceil(tokens / static_cast<double>(ph.seq_len)));
    const StepResult step = step_at_batch(upd, sequences, 0, ph.name);
    const double gen_s = gen.wall.seconds() / rl.updates_per_rollout;
    const double step_s = gen_s + step.seconds * (updates + forward_passes / 3.0);
    seconds += share * step_s;
    generation_seconds += share * gen_s;
    p.tokens += share * tokens;
    p.output_tokens += share * gen.output_tokens / rl.updates_per_rollout;
    p.model_flops += share * (gen.model_flops / rl.updates_per_rollout +
                              tokens * step.model_flops_per_token * (updates + forward_passes / 3.0));
    p.global_batch = upd.training.global_batch;
    decode_rate += gen.output_tokens_per_gpu_second / static_cast<double>(means.size());
  }
  p.step_seconds = seconds / ph.steps;
  p.gpu_hours = seconds * p.gpus / 3600.0;
  p.generation_gpu_hours = generation_seconds * p.gpus / 3600.0;
  p.wall_clock_days = seconds / 86400.0;
  p.mfu = p.model_flops / (seconds * p.gpus * peak_flops(at));
  p.output_tokens_per_gpu_second = decode_rate;
  p.note = fmt::format("{}: {:.0f}% of the time generating ({:.0f} output tokens/s/GPU); {} forward-only pass{} and {} update{} per step",
                       ppo ? "PPO" : "GRPO", 100 * generation_seconds / seconds, decode_rate, forward_passes,
                       forward_passes == 1 ? "" : "es", updates, updates == 1 ? "" : "s");
  return p;
}

// A generation phase: all outputs generated on the cluster's inference instances.
PhaseResult generate_phase(const Scenario& at, const PhaseSpec& ph) {
  PhaseResult p;
  p.name = ph.name;
  p.kind = "generate";
  p.gpus = at.cluster.gpus();
  const std::vector<double> means = length_points(ph.generation.response);
  double seconds = 0, rate = 0;
  for (double mean : means) {
    PhaseSpec part = ph;
    part.generation.outputs = std::max<std::int64_t>(1, ph.generation.outputs / static_cast<std::int64_t>(means.size()));
    const GenerationResult gen = generation_of(at, part, mean);
    seconds += gen.wall.seconds();
    p.output_tokens += gen.output_tokens;
    p.tokens += gen.output_tokens + gen.prompt_tokens;
    p.model_flops += gen.model_flops;
    rate += gen.output_tokens_per_gpu_second / static_cast<double>(means.size());
  }
  p.gpu_hours = p.generation_gpu_hours = seconds * p.gpus / 3600.0;
  p.wall_clock_days = seconds / 86400.0;
  p.mfu = p.model_flops / (seconds * p.gpus * peak_flops(at));
  p.output_tokens_per_gpu_second = rate;
  if (ph.api) {
    // Prompt tokens at the input price, generated tokens at the output price.
    const double prompt_tokens = ph.generation.prompt_tokens * static_cast<double>(ph.generation.outputs);
    p.api_usd = (prompt_tokens * ph.api->input_usd_per_million + p.output_tokens * ph.api->output_usd_per_million) / 1e6;
  }
  p.note = fmt::format("{:.0f} output tokens/s/GPU", rate);
  return p;
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
    for (int i = 0; i < ramp.points; ++i) {
      const double b = static_cast<double>(ramp.from) +
                       (static_cast<double>(t.global_batch - ramp.from)) * (i + 0.5) / ramp.points;
      Scenario at = s;
      const StepResult result = step_at_batch(at, static_cast<std::int64_t>(std::llround(b)), t.global_batch, "ramp");
      const std::string name = "main/ramp, batch " + std::to_string(at.training.global_batch);
      r.phases.push_back(simulated_phase(at, name, ramp.tokens / ramp.points, result));
    }
    main_tokens -= ramp.tokens;
  }
  if (t.tokens > 0) r.phases.push_back(simulated_phase(s, "main", main_tokens, step));
  for (const PhaseSpec& ph : t.phases) {
    if (ph.reported_gpu_hours) {
      PhaseResult p;
      p.name = ph.name;
      p.kind = "reported";
      p.simulated = false;
      p.gpus = ph.cluster ? ph.cluster->gpus() : s.cluster.gpus();
      p.gpu_hours = *ph.reported_gpu_hours;
      p.wall_clock_days = p.gpu_hours / p.gpus / 24.0;
      p.note = "taken as reported, not simulated" + (ph.source.empty() ? std::string() : ": " + ph.source);
      r.phases.push_back(p);
      continue;
    }
    const Scenario at = phase_scenario(s, ph);
    switch (ph.kind) {
      case PhaseKind::train:
        r.phases.push_back(simulated_phase(at, ph.name, ph.tokens, step_of(at, ph.name)));
        r.phases.back().note = ph.source;
        break;
      case PhaseKind::rl:
        r.phases.push_back(rl_phase(at, ph));
        break;
      case PhaseKind::generate:
        r.phases.push_back(generate_phase(at, ph));
        break;
    }
  }
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
    if (hours > 0 && flops > 0) c.required_mfu = flops / (hours * 3600.0 * peak_flops(s));
  }
  return c;
}

}  // namespace gpuhours

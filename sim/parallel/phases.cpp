// The run's phases, each simulated with its own shape, layout, model and cluster: the main phase
// (split along its batch ramp), context extension and fine-tuning, RL (rollouts as inference, then
// policy updates) and generation; phases taken as reported are passed through.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "gpuhours/error.hpp"
#include "gpuhours/inference.hpp"
#include "gpuhours/infeasible.hpp"
#include "gpuhours/phases.hpp"

namespace gpuhours {

namespace {

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
  p.mfu = p.model_flops / (seconds * p.gpus * peak_flops_per_s(at.cluster.gpu, at.training.precision));
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
  p.mfu = p.model_flops / (seconds * p.gpus * peak_flops_per_s(at.cluster.gpu, at.training.precision));
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

PhaseResult training_phase(const Scenario& s, const std::string& name, double tokens, const StepResult& step) {
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

std::vector<PhaseResult> simulate_phases(const Scenario& s, const StepResult& step) {
  std::vector<PhaseResult> phases;
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
      phases.push_back(training_phase(at, name, ramp.tokens / ramp.points, result));
    }
    main_tokens -= ramp.tokens;
  }
  if (t.tokens > 0) phases.push_back(training_phase(s, "main", main_tokens, step));
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
      phases.push_back(p);
      continue;
    }
    const Scenario at = phase_scenario(s, ph);
    switch (ph.kind) {
      case PhaseKind::train:
        phases.push_back(training_phase(at, ph.name, ph.tokens, step_of(at, ph.name)));
        phases.back().note = ph.source;
        break;
      case PhaseKind::rl:
        phases.push_back(rl_phase(at, ph));
        break;
      case PhaseKind::generate:
        phases.push_back(generate_phase(at, ph));
        break;
    }
  }
  return phases;
}

}  // namespace gpuhours

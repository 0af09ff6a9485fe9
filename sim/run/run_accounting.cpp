#include "gpuhours/run.hpp"

#include <algorithm>
#include <cmath>
#include <optional>

#include "gpuhours/error.hpp"

namespace gpuhours {

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
  for (const PhaseResult& p : r.phases) {
    r.steps += p.steps;
    r.gpu_hours += p.gpu_hours;
    r.wall_clock_days += p.wall_clock_days;
  }
  r.cost_usd = r.gpu_hours * s.cost.gpu_hour_usd;
  r.energy_mwh = r.gpu_hours * s.cluster.gpu.tdp_watts / 1e6;
  return r;
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
